package shellhook

import (
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Settle is how long a watched file must stay unchanged before Watch reports it: an editor's save
// or a git checkout is a burst of events (write a temp file, rename it over, chmod), and den
// should start one update for it, on the final content.
const Settle = 200 * time.Millisecond

// Watch watches the directory dir for changes of the files names (base names in dir) and calls
// changed once each burst of changes has settled for settle. It watches the directory, not the
// files, because editors and git replace a file by renaming another over it, which ends a watch
// on the file itself. changed runs on Watch's own goroutine, one call at a time.
//
// stop ends the watch and returns once no call of changed is running or will start, so that
// nothing is reported after the caller has moved on (den shell: after the user's shell exited).
func Watch(dir string, names []string, settle time.Duration, changed func()) (stop func(), err error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if err := w.Add(dir); err != nil {
		w.Close()
		return nil, err
	}
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer w.Close()
		timer := time.NewTimer(settle)
		timer.Stop()
		defer timer.Stop()
		for {
			select {
			case <-quit:
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				// A chmod alone changes no content; anything else (a write, a file created or
				// renamed over, a removal) may change the environment.
				if ev.Op == fsnotify.Chmod || !slices.Contains(names, filepath.Base(ev.Name)) {
					continue
				}
				timer.Reset(settle)
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				// Lost events may have been about the files: check them.
				if errors.Is(err, fsnotify.ErrEventOverflow) {
					timer.Reset(settle)
				}
			case <-timer.C:
				select {
				case <-quit:
					return
				default:
				}
				changed()
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		<-done
	}, nil
}
