package activate

import "runtime/debug"

// buildStamp is set by make build (-ldflags -X) to a value unique to that build, the same in
// the launcher and den-core, which are always built together.
var buildStamp string

// Build identifies the den that is running. A stamp records the Build that made it, and a
// different den does not trust it: a den upgrade may plan the same den.toml and den.lock into
// other store paths (a new builder, an index recipe's fix), and the environment a fast path
// hands out must be the one this den would make. After an upgrade each project syncs once.
//
// Without make build's stamp (go install, go run), it is what the Go toolchain recorded: the
// module's version, or the VCS revision and whether the tree was modified. Builds with no such
// record (tests) share "", as they share everything else.
var Build = buildID()

func buildID() string {
	if buildStamp != "" {
		return buildStamp
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	id := ""
	if v := info.Main.Version; v != "" && v != "(devel)" {
		id = v
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision", "vcs.time", "vcs.modified":
			id += " " + s.Key + "=" + s.Value
		}
	}
	return id
}
