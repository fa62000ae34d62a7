package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/den-sh/den/core/lock"
	"github.com/den-sh/den/core/platform"
)

// benchStdenvCold: realizing the stdenv (gcc, binutils, glibc, make, bash, coreutils... from
// Debian's archive) into an empty store, state and cache — fetching and verifying the archive's
// index, every .deb, unpacking and relocating each unit — against apt doing what it can of the
// same: apt-get update into an empty lists dir, apt-get download of the very .debs den locked
// (name=version) into an empty dir, and dpkg-deb -x of each. apt's side relocates nothing; den
// also fetches its bootstrap patchelf. Both use the host's apt sources. Target: ratio <= 1.5.
func benchStdenvCold(t *testing.T, den string) {
	for _, tool := range []string{"apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s on this host", tool)
		}
	}
	// The package list: the stdenv's .debs as den locks them for this system.
	proj := t.TempDir()
	sys := platform.Current().String()
	if err := os.WriteFile(filepath.Join(proj, "den.toml"), []byte("systems = [\""+sys+"\"]\n[packages]\nstdenv = \"*\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	warm := t.TempDir()
	lockCmd := exec.Command(den, "lock")
	lockCmd.Dir = proj
	lockCmd.Env = append(os.Environ(), "DEN_STORE="+warm+"/store", "DEN_STATE="+warm+"/state", "DEN_CACHE="+warm+"/cache")
	timeCmd(t, lockCmd)
	lf, _, err := lock.Read(proj)
	if err != nil {
		t.Fatal(err)
	}
	p := lf.Get("stdenv")
	if p == nil {
		t.Fatal("den lock wrote no stdenv")
	}
	var debs []string
	for _, s := range p.SourcesFor(sys) {
		if s.Kind == "deb" {
			debs = append(debs, s.Name+"="+s.Version)
		}
	}
	if len(debs) < 20 {
		t.Fatalf("the stdenv locks %d .debs, fewer than it has packages", len(debs))
	}

	var denTimes, aptTimes []time.Duration
	for i := 0; i < 3; i++ {
		dir := t.TempDir()
		cmd := exec.Command(den, "build", "stdenv")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "DEN_STORE="+dir+"/store", "DEN_STATE="+dir+"/state", "DEN_CACHE="+dir+"/cache")
		denTimes = append(denTimes, timeCmd(t, cmd))
		aptTimes = append(aptTimes, aptDownloadUnpack(t, debs))
	}
	benchReport(t, "stdenv cold realize", medianOf(denTimes), medianOf(aptTimes),
		"apt-get update+download+dpkg-deb -x", 1.5)
}

// aptDownloadUnpack times apt-get update, download and dpkg-deb -x of debs with every apt
// directory it writes in a fresh temporary dir, so the host's apt state is only read.
func aptDownloadUnpack(t *testing.T, debs []string) time.Duration {
	t.Helper()
	tmp := t.TempDir()
	for _, d := range []string{"lists/partial", "cache/archives/partial", "debs", "root"} {
		if err := os.MkdirAll(filepath.Join(tmp, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := []string{"-q", "-o", "Dir::State::Lists=" + tmp + "/lists", "-o", "Dir::Cache=" + tmp + "/cache",
		"-o", "Dir::State::status=/dev/null", "-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root"}
	start := time.Now()
	update := exec.Command("apt-get", append(opts, "update")...)
	if out, err := update.CombinedOutput(); err != nil {
		t.Skipf("apt-get update into a temporary lists dir: %v\n%s", err, out)
	}
	dl := exec.Command("apt-get", append(append(opts, "download"), debs...)...)
	dl.Dir = filepath.Join(tmp, "debs")
	if out, err := dl.CombinedOutput(); err != nil {
		t.Fatalf("apt-get download: %v\n%s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(tmp, "debs", "*.deb"))
	if len(files) != len(debs) {
		t.Fatalf("apt-get download gave %d .debs of %d", len(files), len(debs))
	}
	for _, f := range files {
		if out, err := exec.Command("dpkg-deb", "-x", f, filepath.Join(tmp, "root")).CombinedOutput(); err != nil {
			t.Fatalf("dpkg-deb -x %s: %v\n%s", f, err, out)
		}
	}
	return time.Since(start)
}
