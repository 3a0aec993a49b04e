package connectors

import (
	"fmt"
	"reflect"
	"strings"
)

// ConfigFields documents a connector's configuration block from its config
// struct, so that the struct is the one place a field is declared: each
// field's `yaml:"name"` tag names it and its `doc:"…"` tag describes it.
// Structs embedded with `yaml:",inline"` (outbound.Settings) add their own
// fields. A field without a name or a description, or a name given twice,
// is an error: the spec would not say what the decoder accepts.
func ConfigFields(config any) (map[string]string, error) {
	t := reflect.TypeOf(config)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("connectors: a config spec needs a struct, not %v", t)
	}
	out := map[string]string{}
	if err := configFields(t, out); err != nil {
		return nil, err
	}
	return out, nil
}

func configFields(t reflect.Type, out map[string]string) error {
	for f := range t.Fields() {
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		tag, ok := f.Tag.Lookup("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && hasOption(opts, "inline") {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if err := configFields(ft, out); err != nil {
				return err
			}
			continue
		}
		if !ok || name == "" {
			return fmt.Errorf("connectors: config field %s.%s has no yaml name", t.Name(), f.Name)
		}
		doc := f.Tag.Get("doc")
		if doc == "" {
			return fmt.Errorf("connectors: config field %s (%s.%s) has no doc tag", name, t.Name(), f.Name)
		}
		if _, dup := out[name]; dup {
			return fmt.Errorf("connectors: config field %s is declared twice in %s", name, t.Name())
		}
		out[name] = doc
	}
	return nil
}

func hasOption(opts, want string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}
