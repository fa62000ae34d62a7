package deb

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func index(t *testing.T, arch string, pkgs ...*Package) *Index {
	t.Helper()
	ix, err := NewIndex(arch, pkgs)
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func pkg(name, ver, fields string) *Package {
	p := &Package{Name: name, Version: ver, Arch: "amd64", Mirror: "debian"}
	for _, f := range strings.Split(fields, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), ":")
		v = strings.TrimSpace(v)
		switch k {
		case "Depends":
			p.Depends = v
		case "Pre-Depends":
			p.PreDepends = v
		case "Provides":
			p.Provides = v
		case "Priority":
			p.Priority = v
		case "Arch":
			p.Arch = v
		}
	}
	return p
}

// closure renders a closure as "name=dep,dep name=…".
func closure(t *testing.T, ix *Index, roots, exclude []string) string {
	t.Helper()
	res, err := ix.Closure(roots, exclude)
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, r := range res {
		parts = append(parts, r.Name+"="+strings.Join(r.Deps, ","))
	}
	return strings.Join(parts, " ")
}

func TestClosureBasics(t *testing.T) {
	ix := index(t, "amd64",
		pkg("gcc-12", "12.2.0-14", "Depends: cpp-12 (= 12.2.0-14), binutils (>= 2.40), libc6 (>= 2.34)"),
		pkg("cpp-12", "12.2.0-14", "Depends: libc6 (>= 2.34), libgmp10"),
		pkg("binutils", "2.40-2", "Depends: libc6"),
		// a cycle: libc6 and libgcc-s1 need each other
		pkg("libc6", "2.36-9", "Depends: libgcc-s1"),
		pkg("libgcc-s1", "12.2.0-14", "Depends: libc6 (>= 2.35)"),
		pkg("libgmp10", "2:6.2.1+dfsg1-1.1", "Pre-Depends: libc6"),
		pkg("unrelated", "1", ""),
	)
	got := closure(t, ix, []string{"gcc-12"}, nil)
	want := "binutils=libc6 cpp-12=libc6,libgmp10 gcc-12=binutils,cpp-12,libc6 libc6=libgcc-s1 libgcc-s1=libc6 libgmp10=libc6"
	if got != want {
		t.Fatalf("closure\n got %s\nwant %s", got, want)
	}
	// Deterministic: the same answer every time.
	for i := 0; i < 5; i++ {
		if again := closure(t, ix, []string{"gcc-12"}, nil); again != got {
			t.Fatalf("run %d: %s", i, again)
		}
	}
	// Excluded names are taken as present: they, and what only they pull in, stay out.
	if got := closure(t, ix, []string{"gcc-12"}, []string{"libc6"}); got != "binutils= cpp-12=libgmp10 gcc-12=binutils,cpp-12 libgmp10=" {
		t.Fatalf("excluding libc6: %s", got)
	}
	// A root may be a relation.
	if got := closure(t, ix, []string{"binutils (>= 2.40) | unrelated", "libgmp10 (<< 2:7)"}, []string{"libc6"}); got != "binutils= libgmp10=" {
		t.Fatalf("relation roots: %s", got)
	}
}

func TestClosureAlternatives(t *testing.T) {
	ix := index(t, "amd64",
		pkg("app", "1", "Depends: mawk | gawk, missing | present, libfoo (>= 2) | libfoo-compat"),
		pkg("tool", "1", "Depends: gawk"),
		pkg("mawk", "1.3.4", ""),
		pkg("gawk", "5.2.1", ""),
		pkg("present", "1", ""),
		pkg("libfoo", "1.5", ""),
		pkg("libfoo-compat", "2", ""),
	)
	// The first satisfiable alternative: missing is skipped, libfoo 1.5 is too old.
	if got := closure(t, ix, []string{"app"}, nil); got != "app=libfoo-compat,mawk,present libfoo-compat= mawk= present=" {
		t.Fatalf("got %s", got)
	}
	// An alternative already chosen is preferred: tool brought gawk first.
	if got := closure(t, ix, []string{"tool", "app"}, nil); got != "app=gawk,libfoo-compat,present gawk= libfoo-compat= present= tool=gawk" {
		t.Fatalf("got %s", got)
	}
}

func TestClosureVersions(t *testing.T) {
	ix := index(t, "amd64", pkg("lib", "1:2.5-1", ""))
	for rel, ok := range map[string]bool{
		"lib (<< 1:2.6)": true, "lib (<< 1:2.5-1)": false,
		"lib (<= 1:2.5-1)": true, "lib (<= 1:2.4)": false,
		"lib (= 1:2.5-1)": true, "lib (= 2.5-1)": false,
		"lib (>= 1:2.5)": true, "lib (>= 1:2.5-2)": false,
		"lib (>> 1:2.5~rc1)": true, "lib (>> 1:2.5-1)": false,
		"lib (>= 3)": true, // no epoch is epoch 0: 1:2.5 is later
	} {
		_, err := ix.Closure([]string{rel}, nil)
		if ok != (err == nil) {
			t.Errorf("%s: %v", rel, err)
		}
	}
}

func TestClosureProvides(t *testing.T) {
	ix := index(t, "amd64",
		pkg("app", "1", "Depends: awk, libfoo-abi-2, mta (>= 1)"),
		pkg("gawk", "5.2.1", "Provides: awk; Priority: optional"),
		pkg("mawk", "1.3.4", "Provides: awk; Priority: required"),
		pkg("libfoo2", "2.1", "Provides: libfoo-abi-2 (= 2.1)"),
		pkg("exim", "4", "Provides: mta"),
		pkg("postfix", "3", "Provides: mta (= 3)"),
	)
	// Of awk's providers, the required one; mta (>= 1) needs a versioned Provides.
	if got := closure(t, ix, []string{"app"}, nil); got != "app=libfoo2,mawk,postfix libfoo2= mawk= postfix=" {
		t.Fatalf("got %s", got)
	}
	// A provider already chosen wins.
	if got := closure(t, ix, []string{"gawk", "app"}, nil); !strings.HasPrefix(got, "app=gawk,") {
		t.Fatalf("got %s", got)
	}
	// An excluded provider satisfies the virtual name.
	if got := closure(t, ix, []string{"app"}, []string{"mawk"}); got != "app=libfoo2,postfix libfoo2= postfix=" {
		t.Fatalf("got %s", got)
	}
	_, err := ix.Closure([]string{"mta (>= 4)"}, nil)
	if err == nil || err.Error() != "no archive has mta (>= 4) for amd64 (the archives have mta (provided by exim), mta (provided by postfix at 3))" {
		t.Fatalf("got %v", err)
	}
}

func TestClosureArchQualifiers(t *testing.T) {
	ix := index(t, "arm64",
		pkg("app", "1", "Arch: arm64; Depends: python3:any, libc6:native, perl:any (>= 5)"),
		pkg("python3", "3.11", "Arch: arm64"),
		pkg("libc6", "2.36", "Arch: arm64"),
		pkg("perl", "5.36", "Arch: arm64"),
		pkg("cross", "1", "Arch: all; Depends: libc6:amd64"),
	)
	if got := closure(t, ix, []string{"app"}, nil); got != "app=libc6,perl,python3 libc6= perl= python3=" {
		t.Fatalf("got %s", got)
	}
	_, err := ix.Closure([]string{"cross"}, nil)
	var ue *UnsatisfiableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "cross depends on libc6:amd64 which no archive has for arm64") {
		t.Fatalf("got %v", err)
	}
}

func TestUnsatisfiableChain(t *testing.T) {
	ix := index(t, "arm64",
		pkg("gcc-12", "12.2.0-14", "Arch: arm64; Depends: cpp-12, libc6"),
		pkg("cpp-12", "12.2.0-14", "Arch: arm64; Depends: binutils (>= 2.40)"),
		pkg("binutils", "2.38-4", "Arch: arm64"),
		pkg("libc6", "2.36", "Arch: arm64"),
	)
	_, err := ix.Closure([]string{"gcc-12"}, nil)
	var ue *UnsatisfiableError
	if !errors.As(err, &ue) || !reflect.DeepEqual(ue.Chain, []string{"gcc-12", "cpp-12"}) {
		t.Fatalf("got %#v", err)
	}
	want := "gcc-12 depends on cpp-12, which depends on binutils (>= 2.40) which no archive has for arm64 (the archives have binutils 2.38-4)"
	if err.Error() != want {
		t.Fatalf("error\n got %s\nwant %s", err, want)
	}
	ix = index(t, "arm64", pkg("gcc-12", "12.2.0-14", "Arch: arm64; Depends: binutils (>= 2.40)"))
	_, err = ix.Closure([]string{"gcc-12"}, nil)
	if err == nil || err.Error() != "gcc-12 depends on binutils (>= 2.40) which no archive has for arm64" {
		t.Fatalf("got %v", err)
	}
	_, err = ix.Closure([]string{"gcc-13"}, nil)
	if err == nil || err.Error() != "no archive has gcc-13 for arm64" {
		t.Fatalf("got %v", err)
	}
}

func TestClosureBadRelation(t *testing.T) {
	ix := index(t, "amd64", pkg("a", "1", "Depends: b (>= "))
	_, err := ix.Closure([]string{"a"}, nil)
	var re *RelationError
	if !errors.As(err, &re) || re.Package != "a" || re.Field != "Depends" {
		t.Fatalf("got %v", err)
	}
}

func ExampleIndex_Closure() {
	ix, _ := NewIndex("amd64", []*Package{
		{Name: "hello", Version: "2.10-3", Depends: "libc6 (>= 2.34)"},
		{Name: "libc6", Version: "2.36-9", Depends: "libgcc-s1"},
		{Name: "libgcc-s1", Version: "12.2.0-14", Depends: "libc6 (>= 2.35)"},
	})
	res, _ := ix.Closure([]string{"hello"}, nil)
	for _, r := range res {
		fmt.Println(r.Name, r.Version, r.Deps)
	}
	// Output:
	// hello 2.10-3 [libc6]
	// libc6 2.36-9 [libgcc-s1]
	// libgcc-s1 12.2.0-14 [libc6]
}
