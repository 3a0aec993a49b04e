package validation

import (
	"regexp"
	"slices"
	"strings"
	"sync"

	annpb "github.com/google/fhir/go/proto/google/fhir/proto/annotations_go_proto"
	dtpb "github.com/google/fhir/go/proto/google/fhir/proto/r4/core/datatypes_go_proto"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The compiled validator (compiled.go) reads google/fhir's R4 descriptors
// once, through protoreflect, into the tables below: what each JSON key of
// each type is, its cardinality, whether FHIR requires it, the JSON type and
// format of a primitive, the codes of a required binding and the resource
// types a reference may target. No code is generated: the descriptors are
// google's own, so the tables cannot drift from the oracle's version.

// prim is the kind of a FHIR primitive: what JSON type it takes and how its
// value is checked.
type prim uint8

const (
	primNone   prim = iota // not a primitive: an object
	primString             // google's String: its characters and size checked
	primText               // markdown, xhtml, codes bound to a string: a JSON string
	primBool
	primInteger
	primPositiveInt
	primUnsignedInt
	primDecimal
	primCode     // a code with no required binding (Code's regex)
	primEnumCode // a code of a required binding (its codes)
	primDate
	primDateTime
	primInstant
	primTime
	primID
	primOID
	primUUID
	primURI
	primBase64
)

// fieldKind is what a key leads into.
type fieldKind uint8

const (
	kindMessage   fieldKind = iota // a complex type: an object
	kindPrimitive                  // a JSON scalar
	kindReference                  // Reference.reference: a string
	kindContained                  // a whole resource naming its resourceType
	// kindInvalid is a scalar field of a primitive's own message (value,
	// valueUs): google reads an object sent for a primitive as that
	// message, and refuses these keys in it.
	kindInvalid
)

// ftable is one JSON key of a type.
type ftable struct {
	name     string // the JSON key (for a choice, with its type: valueString)
	kind     fieldKind
	prim     prim
	repeated bool
	// required is the index of this field in its type's required list, or -1.
	required int
	// choice is the index of the choice element among its type's choices,
	// or -1: two keys of one choice element are two values for it.
	choice int
	// choiceName is the choice element's name (value for valueString).
	choiceName string
	// googlePath is how google's validation names a choice key in a path
	// (.value.string for valueString).
	googlePath string
	codes      map[string]struct{}
	enum       protoreflect.EnumDescriptor
	re         *regexp.Regexp
	// refTypes are the resource types a Reference here may target; nil for
	// any (or when this is no Reference).
	refTypes []string
	md       protoreflect.MessageDescriptor
}

// target is the table of the type this field leads into (an object).
func (f *ftable) target() *mtable { return tableOf(f.md) }

// mtable is a type's table.
type mtable struct {
	md   protoreflect.MessageDescriptor
	keys map[string]*ftable
	// required lists the names of the required elements, in field order.
	required []string
	choices  int
	// contained marks Bundle.entry.resource and contained: whole resources.
	contained bool
	// reference marks the Reference type (its reference key is a string).
	reference bool
	// resource marks a resource type: resourceType is one of its keys.
	resource bool
}

var tables sync.Map // protoreflect.FullName -> *mtable

// tableOf compiles md's table on first use.
func tableOf(md protoreflect.MessageDescriptor) *mtable {
	if v, ok := tables.Load(md.FullName()); ok {
		return v.(*mtable)
	}
	t := compileTable(md)
	v, _ := tables.LoadOrStore(md.FullName(), t)
	return v.(*mtable)
}

func compileTable(md protoreflect.MessageDescriptor) *mtable {
	t := &mtable{md: md, keys: map[string]*ftable{}, contained: isContained(md)}
	if rmd, ok := resources()[string(md.Name())]; ok && rmd.FullName() == md.FullName() {
		t.resource = true
	}
	if t.contained {
		return t
	}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if o := fd.ContainingOneof(); o != nil && o.Name() == "reference" {
			continue
		}
		req := -1
		if r, ok := proto.GetExtension(fd.Options(), annpb.E_ValidationRequirement).(annpb.Requirement); ok && r == annpb.Requirement_REQUIRED_BY_FHIR {
			req = len(t.required)
			t.required = append(t.required, fd.JSONName())
		}
		refTypes := refTypesOf(fd)
		name := fd.JSONName()
		if m := fd.Message(); m != nil && m.Oneofs().ByName("choice") != nil {
			ch := m.Oneofs().ByName("choice").Fields()
			for j := 0; j < ch.Len(); j++ {
				c := ch.Get(j)
				f := leaf(c, "")
				f.name = name + upperFirst(c.JSONName())
				f.repeated, f.required, f.choice, f.choiceName = fd.IsList(), req, t.choices, name
				f.refTypes = refTypesOf(c)
				f.googlePath = "." + name + "." + c.JSONName()
				t.keys[f.name] = f
			}
			t.choices++
			continue
		}
		f := leaf(fd, name)
		f.required, f.choice, f.refTypes = req, -1, refTypes
		if fd.Message() == nil && primitiveMessage(md) {
			f.kind = kindInvalid
		}
		t.keys[name] = f
	}
	if md.Oneofs().ByName("reference") != nil {
		t.reference = true
		t.keys["reference"] = &ftable{name: "reference", kind: kindReference, prim: primString, required: -1, choice: -1,
			md: md.Fields().ByName("uri").Message()}
	}
	return t
}

// refTypesOf reads the resource types a Reference field may target, nil
// for any.
func refTypesOf(fd protoreflect.FieldDescriptor) []string {
	rt, ok := proto.GetExtension(fd.Options(), annpb.E_ValidReferenceType).([]string)
	if !ok || len(rt) == 0 || slices.Contains(rt, "Resource") {
		return nil
	}
	return rt
}

// leaf describes the field fd (a choice's type when in a choice).
func leaf(fd protoreflect.FieldDescriptor, name string) *ftable {
	f := &ftable{name: name, repeated: fd.IsList(), md: fd.Message(), required: -1, choice: -1}
	m := fd.Message()
	switch {
	case m == nil:
		f.kind, f.prim = kindPrimitive, primString
	case isContained(m):
		f.kind = kindContained
	case primitiveMessage(m):
		f.kind = kindPrimitive
		f.prim, f.codes, f.re = primOf(m)
		if v := m.Fields().ByName("value"); v != nil && f.prim == primEnumCode {
			f.enum = v.Enum()
		}
	}
	return f
}

// codeOK reports whether google reads s as a code of f's required binding:
// an original code as is, or an enum value's name in any case with '-'
// for '_'.
func (f *ftable) codeOK(s []byte) bool {
	if _, ok := f.codes[string(s)]; ok {
		return true
	}
	name := strings.ReplaceAll(strings.ToUpper(string(s)), "-", "_")
	v := f.enum.Values().ByName(protoreflect.Name(name))
	return v != nil && v.Number() != 0
}

// primOf classifies a primitive type by google's message names; a code
// bound to a required value set is a message of its own whose value is an
// enum (Patient.GenderCode).
func primOf(m protoreflect.MessageDescriptor) (prim, map[string]struct{}, *regexp.Regexp) {
	switch m.Name() {
	case "Boolean":
		return primBool, nil, nil
	case "Integer":
		return primInteger, nil, nil
	case "PositiveInt":
		return primPositiveInt, nil, nil
	case "UnsignedInt":
		return primUnsignedInt, nil, nil
	case "Decimal":
		return primDecimal, nil, regexOf(&dtpb.Decimal{})
	case "Code":
		return primCode, nil, regexOf(&dtpb.Code{})
	case "Date":
		return primDate, nil, regexOf(&dtpb.Date{})
	case "DateTime":
		return primDateTime, nil, regexOf(&dtpb.DateTime{})
	case "Instant":
		return primInstant, nil, regexOf(&dtpb.Instant{})
	case "Time":
		return primTime, nil, regexOf(&dtpb.Time{})
	case "Id":
		return primID, nil, regexOf(&dtpb.Id{})
	case "Oid":
		return primOID, nil, regexOf(&dtpb.Oid{})
	case "Uuid":
		return primUUID, nil, regexOf(&dtpb.Uuid{})
	case "Uri", "Url", "Canonical":
		return primURI, nil, nil
	case "Base64Binary":
		return primBase64, nil, nil
	case "String":
		return primString, nil, nil
	}
	if v := m.Fields().ByName("value"); v != nil && v.Enum() != nil {
		return primEnumCode, codesOf(v.Enum()), nil
	}
	// Markdown, Xhtml and the codes google types as their own messages
	// holding a string: google checks only that they are JSON strings.
	return primText, nil, nil
}

// primitiveMessage reports whether m is a FHIR primitive, a JSON scalar:
// google's structure_definition_kind annotation says so, or m wraps a
// scalar value (a code of a required binding wraps an enum). Extension
// and Money hold a value too, but a message.
func primitiveMessage(m protoreflect.MessageDescriptor) bool {
	kind, ok := proto.GetExtension(m.Options(), annpb.E_StructureDefinitionKind).(annpb.StructureDefinitionKindValue)
	if ok && kind == annpb.StructureDefinitionKindValue_KIND_PRIMITIVE_TYPE {
		return true
	}
	v := m.Fields().ByName("value")
	return v != nil && v.Message() == nil
}

var regexes sync.Map // protoreflect.FullName -> *regexp.Regexp

// regexOf compiles a primitive's value_regex annotation, anchored as google
// anchors it.
func regexOf(m proto.Message) *regexp.Regexp {
	md := m.ProtoReflect().Descriptor()
	if v, ok := regexes.Load(md.FullName()); ok {
		return v.(*regexp.Regexp)
	}
	s, _ := proto.GetExtension(md.Options(), annpb.E_ValueRegex).(string)
	re := regexp.MustCompile("^" + s + "$") // as google anchors it
	regexes.Store(md.FullName(), re)
	return re
}

// codesOf lists the JSON codes of a required binding's enum: the
// fhir_original_code annotation when google renamed the code, else the
// enum value's name in lower case with '-' for '_'.
func codesOf(ed protoreflect.EnumDescriptor) map[string]struct{} {
	out := map[string]struct{}{}
	vals := ed.Values()
	for i := 0; i < vals.Len(); i++ {
		v := vals.Get(i)
		if v.Number() == 0 {
			continue // INVALID_UNINITIALIZED
		}
		if orig, ok := proto.GetExtension(v.Options(), annpb.E_FhirOriginalCode).(string); ok && orig != "" {
			out[orig] = struct{}{}
			continue
		}
		out[strings.ReplaceAll(strings.ToLower(string(v.Name())), "_", "-")] = struct{}{}
	}
	return out
}

// resourceTable is the table of a resource type, nil when rt is none.
func resourceTable(rt string) *mtable {
	md, ok := resources()[rt]
	if !ok {
		return nil
	}
	return tableOf(md)
}
