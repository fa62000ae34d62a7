package activate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/den-sh/den/core/project"
)

// den x REFS -- CMD resolves REFS (within resolve-ttl, from what den kept), realizes them and runs
// CMD with them. Warm, all of that is known before den starts: den-core records, per list of
// refs, the profile it ran the command with (an XStamp), and the launcher execs the command from
// it, as it does for den run in an unchanged project. A stamp holds as long as a resolution
// does: its age counts from the oldest resolution it was made from, it names the resolve-ttl
// in effect, and it dies with any change of config.toml.

// XStamp is what one den x resolved its packages to.
type XStamp struct {
	Profile string         `json:"profile"`
	Made    int64          `json:"made"` // unix nanoseconds: when its oldest resolution was made
	TTL     int64          `json:"ttl"`  // nanoseconds: resolve-ttl as it was
	Config  project.FileID `json:"config"`
	// Registries fingerprints what says where den resolves from besides config.toml: the
	// variables of npm, Go and den, and npm's and Go's user config files (registrySettings).
	Registries string `json:"registries"`
	Den        string `json:"den,omitempty"` // the Build that resolved it
	// StoreState is the store's state dir the profile's temp root goes in: the shared store's
	// (/den/var) or the user's own.
	StoreState string `json:"store-state,omitempty"`
}

// registrySettings fingerprints, from the environment and a few stats, what a resolution of den
// x depends on besides config.toml: another registry is another resolution.
func registrySettings(getenv func(string) string, environ []string) string {
	h := sha256.New()
	var names []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "npm_config_") || strings.HasPrefix(k, "NPM_CONFIG_") || strings.HasPrefix(k, "GO") || strings.HasPrefix(k, "DEN_") {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		h.Write([]byte(k + "=" + getenv(k) + "\x00"))
	}
	files := []string{".npmrc"}
	if home := getenv("HOME"); home != "" {
		files = append(files, filepath.Join(home, ".npmrc"), filepath.Join(home, ".config", "go", "env"))
	}
	if x := getenv("XDG_CONFIG_HOME"); x != "" {
		files = append(files, filepath.Join(x, "go", "env"))
	}
	for _, f := range files {
		id := project.FileIDOf(f)
		h.Write([]byte(f + " " + strconv.FormatInt(id.Size, 10) + " " + strconv.FormatInt(id.MtimeNs, 10) + " " + strconv.FormatUint(id.Ino, 10) + "\x00"))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// XStampPath is where den x of refs keeps its stamp, under den's state dir.
func XStampPath(stateDir string, refs []string) string {
	sum := sha256.Sum256([]byte(strings.Join(refs, "\x00")))
	return filepath.Join(stateDir, "x", hex.EncodeToString(sum[:16])+".json")
}

// Dirs are den's state dir and config file as config.Load finds them, from the environment
// alone (DEN_STATE, then XDG_STATE_HOME, then HOME), without reading config.toml.
func Dirs(getenv func(string) string) (stateDir, configFile string, ok bool) {
	home := getenv("HOME")
	base := func(xdg, fallback string) string {
		if v := getenv(xdg); filepath.IsAbs(v) {
			return v
		}
		if home == "" {
			return ""
		}
		return filepath.Join(home, fallback)
	}
	if v := getenv("DEN_STATE"); v != "" {
		if !filepath.IsAbs(v) {
			return "", "", false
		}
		stateDir = filepath.Clean(v)
	} else if b := base("XDG_STATE_HOME", ".local/state"); b != "" {
		stateDir = filepath.Join(b, "den")
	}
	if b := base("XDG_CONFIG_HOME", ".config"); b != "" {
		configFile = filepath.Join(b, "den", "config.toml")
	}
	return stateDir, configFile, stateDir != "" && configFile != ""
}

// WriteXStamp records that den x of refs ran with profile, resolved at made under resolve-ttl
// ttl and the config file as it is now.
func WriteXStamp(stateDir, storeState, configFile string, refs []string, profile string, made time.Time, ttl time.Duration) error {
	data, err := json.Marshal(XStamp{Profile: profile, Made: made.UnixNano(), TTL: int64(ttl), Config: project.FileIDOf(configFile),
		Registries: registrySettings(os.Getenv, os.Environ()), Den: Build, StoreState: storeState})
	if err != nil {
		return err
	}
	path := XStampPath(stateDir, refs)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp-" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// FastX is den x for refs whose stamp holds: given den x's arguments, it keeps the profile
// alive as a temp root for as long as the command runs (a lock the command inherits) and execs
// the command with its environment. It returns, having done nothing the full program would not
// do again, whenever it cannot tell: a flag, a stamp that is missing, old or made under another
// config, a profile gone, a command not found.
func FastX(args []string) {
	var refs, argv []string
	for i, arg := range args {
		if arg == "--" {
			argv = args[i+1:]
			break
		}
		if strings.HasPrefix(arg, "-") {
			return // a flag: den-core's
		}
		refs = append(refs, arg)
	}
	if len(refs) == 0 || len(argv) == 0 {
		return
	}
	stateDir, configFile, ok := Dirs(os.Getenv)
	if !ok {
		return
	}
	data, err := os.ReadFile(XStampPath(stateDir, refs))
	if err != nil {
		return
	}
	var st XStamp
	if json.Unmarshal(data, &st) != nil || st.Profile == "" || !filepath.IsAbs(st.Profile) {
		return
	}
	if age := time.Since(time.Unix(0, st.Made)); age < 0 || age >= time.Duration(st.TTL) || project.FileIDOf(configFile) != st.Config {
		return
	}
	if registrySettings(os.Getenv, os.Environ()) != st.Registries || st.Den != Build {
		return
	}
	if st.StoreState == "" || (st.StoreState == stateDir && sharedStoreExists(os.Getenv)) {
		return // made in the per-user store before den setup made the shared one
	}
	pkgs, err := ReadProfile(st.Profile)
	if err != nil {
		return
	}
	vars, err := Variables(st.Profile, pkgs, nil, "", os.Getenv)
	if err != nil {
		return
	}
	env := ChildEnv(vars, false)
	path, ok := LookPathIn(argv[0], env)
	if !ok {
		return
	}
	if !holdTempRoot(st.StoreState, st.Profile) {
		return
	}
	syscall.Exec(path, argv, env)
}

// sharedStoreExists says whether, DEN_STORE being unset, den uses the store den setup made
// (config.DefaultRoot's, or DEN_ROOT's): config.Load's test, without its config file.
func sharedStoreExists(getenv func(string) string) bool {
	if getenv("DEN_STORE") != "" {
		return false
	}
	root := "/den"
	if v := getenv("DEN_ROOT"); filepath.IsAbs(v) {
		root = v
	}
	fi, err := os.Stat(filepath.Join(root, "store"))
	return err == nil && fi.IsDir()
}

// holdTempRoot registers profile as a temp root of this process, as the store's TempRoots does,
// with the lock on the file left open across exec, so that it lasts exactly as long as the
// command: a collection sees the file locked and keeps the profile and its closure. It takes
// the collector's lock shared meanwhile, as everything that adds a root does, and makes sure the
// profile is still there under it.
func holdTempRoot(stateDir, profile string) bool {
	// Read-only, as the store takes its locks: in a shared store the file is another user's.
	gc, err := syscall.Open(filepath.Join(stateDir, "locks", "gc.lock"), syscall.O_RDONLY|syscall.O_CREAT|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		return false
	}
	defer syscall.Close(gc)
	if syscall.Flock(gc, syscall.LOCK_SH) != nil {
		return false
	}
	name := filepath.Join(stateDir, "temproots", strconv.Itoa(os.Getpid()))
	fd, err := syscall.Open(name, syscall.O_RDWR|syscall.O_CREAT|syscall.O_TRUNC, 0o644) // no O_CLOEXEC: the command holds it
	if err != nil {
		return false
	}
	if syscall.Flock(fd, syscall.LOCK_EX) != nil {
		syscall.Close(fd)
		return false
	}
	if _, err := syscall.Write(fd, []byte(profile+"\n")); err != nil {
		syscall.Close(fd)
		return false
	}
	if _, err := os.Lstat(profile); err != nil {
		syscall.Close(fd)
		os.Remove(name)
		return false
	}
	return true
}
