package manifest

import "github.com/pelletier/go-toml/v2/unstable"

// decode checks the layout against the schema and fills the document from it: strict decoding,
// with each key and value visited once. Keys defined twice and tables redefined were already
// refused by scan; here every key must be in the schema and every value of the shape the schema
// gives. The first mistake in the file is the one reported.
func (f *file) decode(lay *layout) (*document, error) {
	if err := f.shape(lay.root, schema()); err != nil {
		return nil, err
	}
	r := lay.root
	doc := &document{
		Systems: strs(r.byName["systems"]),
		Env:     strMap(r.byName["env"]),
		Scripts: strMap(r.byName["scripts"]),
	}
	if e := r.byName["packages"]; e != nil {
		doc.Packages = make(map[string]any, len(e.children))
		for _, c := range e.children {
			doc.Packages[c.name] = c.loose()
		}
	}
	if e := r.byName["shell"]; e != nil {
		doc.Shell.Init = str(e.byName["init"])
	}
	if e := r.byName["options"]; e != nil {
		doc.Options.Sandbox = str(e.byName["sandbox"])
	}
	if e := r.byName["caches"]; e != nil {
		doc.Caches.Substituters = strs(e.byName["substituters"])
		doc.Caches.TrustedPublicKeys = strs(e.byName["trusted-public-keys"])
		doc.Caches.Push = strs(e.byName["push"])
	}
	if e := r.byName["targets"]; e != nil {
		doc.Targets = make(map[string]targetDoc, len(e.children))
		for _, c := range e.children {
			doc.Targets[c.name] = targetDoc{Libraries: strs(c.byName["libraries"])}
		}
	}
	if e := r.byName["recipes"]; e != nil {
		doc.Recipes = make(map[string]recipeDoc, len(e.children))
		for _, c := range e.children {
			d := recipeDoc{
				Description: str(c.byName["description"]),
				Version:     str(c.byName["version"]),
				Build:       str(c.byName["build"]),
				Deps:        strs(c.byName["deps"]),
				HostTools:   strs(c.byName["host-tools"]),
				Env:         strMap(c.byName["env"]),
			}
			if src := c.byName["src"]; src != nil {
				d.Src = src.loose()
			}
			if v := c.byName["vendor-hash"]; v != nil {
				h := str(v)
				d.VendorHash = &h
			}
			if v := c.byName["npm-deps-hash"]; v != nil {
				h := str(v)
				d.NPMDepsHash = &h
			}
			doc.Recipes[c.name] = d
		}
	}
	return doc, nil
}

// The helpers below read entries that shape has checked. Like a TOML decoder, they leave a key
// that is not there nil, and make an empty array or table empty but not nil.

func str(e *entry) string {
	if e == nil {
		return ""
	}
	return e.str
}

func strs(e *entry) []string {
	if e == nil {
		return nil
	}
	out := make([]string, len(e.elems))
	for i, el := range e.elems {
		out[i] = el.str
	}
	return out
}

func strMap(e *entry) map[string]string {
	if e == nil {
		return nil
	}
	out := make(map[string]string, len(e.children))
	for _, c := range e.children {
		out[c.name] = c.str
	}
	return out
}

// loose is the value of an entry as a TOML decoder gives it into an interface: a string, a bool,
// []any or map[string]any.
func (e *entry) loose() any {
	switch {
	case e.kind == unstable.String:
		return e.str
	case e.kind == unstable.Bool:
		return e.raw == "true"
	case e.kind == unstable.Array:
		out := make([]any, len(e.elems))
		for i, el := range e.elems {
			out[i] = el.loose()
		}
		return out
	case isTableKind(e.kind):
		out := make(map[string]any, len(e.children))
		for _, c := range e.children {
			out[c.name] = c.loose()
		}
		return out
	}
	return nil // a shape the schema refuses, so never asked for
}
