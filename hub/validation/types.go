package validation

import (
	"strings"
	"sync"
	"unicode"

	annpb "github.com/google/fhir/go/proto/google/fhir/proto/annotations_go_proto"
	bcrpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/resources/bundle_and_contained_resource_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// resources maps each R4 resource type name to its message descriptor, read
// from google/fhir's ContainedResource oneof so the list is never hand-typed.
var resources = sync.OnceValue(func() map[string]protoreflect.MessageDescriptor {
	out := map[string]protoreflect.MessageDescriptor{}
	md := (&bcrpb.ContainedResource{}).ProtoReflect().Descriptor()
	fields := md.Oneofs().ByName("oneof_resource").Fields()
	for i := 0; i < fields.Len(); i++ {
		m := fields.Get(i).Message()
		out[string(m.Name())] = m
	}
	return out
})

// IsResourceType reports whether name is a FHIR R4 resource type.
func IsResourceType(name string) bool {
	_, ok := resources()[name]
	return ok
}

// field is what a JSON key at some level of a resource means.
type field struct {
	fd protoreflect.FieldDescriptor
	// choice is the chosen type's field inside a choice message ([x] types).
	choice protoreflect.FieldDescriptor
	// reference marks Reference.reference (a oneof in google's protos).
	reference bool
}

// target is the message a key leads into, nil for primitives.
func (f field) target() protoreflect.MessageDescriptor {
	switch {
	case f.reference:
		return nil
	case f.choice != nil:
		return f.choice.Message()
	default:
		return f.fd.Message()
	}
}

var keyCache sync.Map // protoreflect.FullName -> map[string]field

// keysOf lists the JSON keys a message accepts.
func keysOf(md protoreflect.MessageDescriptor) map[string]field {
	if v, ok := keyCache.Load(md.FullName()); ok {
		return v.(map[string]field)
	}
	keys := map[string]field{}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.ContainingOneof() != nil && fd.ContainingOneof().Name() == "reference" {
			continue // Reference.reference's typed variants
		}
		name := fd.JSONName()
		if m := fd.Message(); m != nil && m.Oneofs().ByName("choice") != nil {
			choices := m.Oneofs().ByName("choice").Fields()
			for j := 0; j < choices.Len(); j++ {
				c := choices.Get(j)
				keys[name+upperFirst(c.JSONName())] = field{fd: fd, choice: c}
			}
			continue
		}
		keys[name] = field{fd: fd}
	}
	if md.Oneofs().ByName("reference") != nil {
		keys["reference"] = field{reference: true}
	}
	keyCache.Store(md.FullName(), keys)
	return keys
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

// isContained reports whether md holds a whole resource whose JSON names its
// own resourceType: Bundle entries (ContainedResource) and `contained`
// (google.protobuf.Any in google's protos).
func isContained(md protoreflect.MessageDescriptor) bool {
	return strings.HasSuffix(string(md.FullName()), ".ContainedResource") || md.FullName() == "google.protobuf.Any"
}

// isPrimitiveType reports whether md is a FHIR primitive (JSON scalar), by
// google's own structure_definition_kind annotation; specialised codes
// (Patient.GenderCode) carry it too.
func isPrimitiveType(md protoreflect.MessageDescriptor) bool {
	if md == nil {
		return true
	}
	kind, ok := proto.GetExtension(md.Options(), annpb.E_StructureDefinitionKind).(annpb.StructureDefinitionKindValue)
	if ok && kind == annpb.StructureDefinitionKindValue_KIND_PRIMITIVE_TYPE {
		return true
	}
	// Specialised enums keep the annotation on the wrapped code's fields only.
	return md.Fields().ByName("value") != nil && md.Fields().ByName("extension") != nil && md.Fields().Len() <= 4
}
