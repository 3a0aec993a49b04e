package validation

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/hub/outcome"
	"github.com/switchboard-health/switchboard/hub/testenv"
)

// The differential tests hold the compiled validator (compiled.go) to the
// current path (parser, walker and google/fhir's unmarshaller, the
// oracle): the same verdict, the same status and the same element paths.

// differ compares both validators on body; it returns "" when they agree,
// else what differs (never the body's content).
func differ(v *Validator, body []byte) string {
	_, oldErr := v.resourceViaGoogle(body, "")
	_, _, newErr := validateCompiled(body, "")
	o, n := verdict(oldErr), verdict(newErr)
	if o != n {
		return fmt.Sprintf("oracle %s, compiled %s", o, n)
	}
	oldB, oldErr := v.bundleViaGoogle(body)
	c := *v
	c.google = false
	newB, newErr := c.Bundle(body)
	o, n = verdict(oldErr), verdict(newErr)
	if o != n {
		return fmt.Sprintf("as a Bundle: oracle %s, compiled %s", o, n)
	}
	if !reflect.DeepEqual(oldB, newB) {
		return "as a Bundle: the entries differ"
	}
	return ""
}

// verdict renders a result as its status and sorted expressions.
func verdict(err error) string {
	if err == nil {
		return "valid"
	}
	var oe *outcome.Error
	if !errors.As(err, &oe) {
		return "error " + err.Error()
	}
	exprs := make([]string, len(oe.Issues))
	for i, is := range oe.Issues {
		exprs[i] = is.Expression
		if strings.Contains(is.Diagnostics, "array length mismatch") {
			// google names given or _given, whichever its map iteration
			// reads second: the oracle is not deterministic there.
			exprs[i] = strings.Replace(is.Expression, "._", ".", 1)
		}
	}
	slices.Sort(exprs)
	return fmt.Sprintf("%d %q", oe.Status, exprs)
}

// differentialCorpus is every body the differential test runs: the HL7 R4
// examples (when ../shared is beside the repository), the project's
// samples, and the hand-written invalid bodies of TestResourceErrors.
func differentialCorpus(t testing.TB) (map[string][]byte, int) {
	root := testenv.RepoRoot(t)
	out := map[string][]byte{}
	hl7, _ := filepath.Glob(filepath.Join(root, "..", "shared", "fhir-r4-examples", "*.json"))
	own, _ := filepath.Glob(filepath.Join(root, "testdata", "fhir", "*", "*.json"))
	for _, f := range append(hl7, own...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f)] = b
	}
	for i, b := range handWritten {
		out[fmt.Sprintf("hand-written/%02d", i)] = []byte(b)
	}
	return out, len(hl7)
}

// knownDifferences lists where the compiled validator still differs from
// the oracle, by corpus name, with the difference as differ renders it.
// The test fails on any difference not listed here, and on any listed
// one that is gone (so the list shrinks as the validator improves).
var knownDifferences = map[string]string{}

func TestDifferential(t *testing.T) {
	v := mustValidator(t)
	corpus, hl7 := differentialCorpus(t)
	names := make([]string, 0, len(corpus))
	for n := range corpus {
		names = append(names, n)
	}
	slices.Sort(names)
	differ1, hl7Differ := 0, 0
	for _, n := range names {
		d := differ(v, corpus[n])
		want, known := knownDifferences[n]
		switch {
		case d != "" && !known:
			t.Errorf("%s: new difference: %s", n, d)
		case d != "" && d != want:
			t.Errorf("%s: difference changed: %s (known: %s)", n, d, want)
		case d == "" && known:
			t.Errorf("%s: the known difference is gone: remove it from knownDifferences", n)
		}
		if d != "" {
			differ1++
			if strings.HasPrefix(n, "fhir-r4-examples/") {
				hl7Differ++
			}
		}
	}
	if hl7 == 0 {
		t.Logf("../shared/fhir-r4-examples is absent: only the project's samples and the hand-written cases were compared")
	}
	t.Logf("%d bodies compared (%d HL7 examples): %d differ (%d HL7 examples)", len(corpus), hl7, differ1, hl7Differ)
}

// FuzzDifferential: on every mutation of the corpus both validators give
// the same verdict, status and element paths. Seeds over 32 KB (a few
// large Bundles) are left out: google takes tens of milliseconds on each,
// which would starve the fuzzer; TestDifferential runs them.
func FuzzDifferential(f *testing.F) {
	corpus, _ := differentialCorpus(f)
	for _, b := range corpus {
		if len(b) <= 32<<10 {
			f.Add(b)
		}
	}
	v := mustValidator(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		if d := differ(v, body); d != "" {
			t.Fatalf("the validators differ: %s", d)
		}
	})
}

// handWritten are the bodies of TestResourceErrors.
var handWritten = []string{
	`hello`,
	`[{"resourceType":"Patient"}]`,
	`"Patient"`,
	`{"resourceType":"Patient"} {}`,
	"{\"resourceType\":\"Patient\",\n \"active\":true, \"active\":false}",
	`{"resourceType":"Patient","gender":"male","birthDate":"2000","gender":"female"}`,
	`{"resourceType":"Patient","name":[{"family":"a"},{"family":"b","family":"c"}]}`,
	`{"resourceType":"Patient","resourceType":"Patient"}`,
	`{"resourceType":"Patient","name":[{"Sam":1,"Sam":2}]}`,
	"{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"\xff\"}]}",
	``,
	`{"name":[{"family":"x"}]}`,
	`{"resourceType":"Patinet"}`,
	`{"resourceType":5}`,
	`{"resourceType":"Patient","contained":[{"resourceType":"Pa.tient","id":"x"}]}`,
	`{"resourceType":"Observation"}`,
	`{"resourceType":"Patient","ECHOMARKQZX":1}`,
	`{"resourceType":"Patient","name":[{"bogus":"x"}]}`,
	`{"resourceType":"Patient","foo":1,"bar":2}`,
	`{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o","zz":1}]}`,
	`{"resourceType":"Patient","extension":[{"url":"http://x.org/e","valueFoo":1}]}`,
	`{"resourceType":"Observation","status":"final","code":{"text":"w"},"valueFoo":"x"}`,
	`{"resourceType":"Patient","_nope":{"id":"n"}}`,
	`{"resourceType":"Patient","_name":[{"id":"x"}]}`,
	`{"resourceType":"Patient","_birthDate":{"zz":1},"birthDate":"2000"}`,
	`{"resourceType":"Patient","name":[{"given":["a"],"_given":[{"zz":1}]}]}`,
	`{"resourceType":"Patient","Sam Example 1970":1}`,
	`{"resourceType":"Patient","active":"yes"}`,
	`{"resourceType":"Patient","name":{"family":"x"}}`,
	`{"resourceType":"Patient","name":"x"}`,
	`{"resourceType":"Patient","name":[{"given":["a",1]}]}`,
	`{"resourceType":"Patient","active":null}`,
	`{"resourceType":"Patient","deceasedBoolean":true,"deceasedDateTime":"2020"}`,
	`{"resourceType":"Patient","birthDate":"2020-02-30"}`,
	`{"resourceType":"Patient","deceasedDateTime":"2020-02-30T10:00:00Z"}`,
	`{"resourceType":"Observation","status":"final","code":{"text":"w"},"issued":"2020-01-01"}`,
	`{"resourceType":"Patient","id":"a b"}`,
	`{"resourceType":"Patient","name":[{"family":"x\u0000"}]}`,
	`{"resourceType":"Patient","gender":"mal"}`,
	`{"resourceType":"Patient","name":[{"family":""}]}`,
	`{"resourceType":"Patient","extension":[{"url":"http://x.org/e","valueString":""}]}`,
	`{"resourceType":"Patient","id":""}`,
	`{"resourceType":"Patient","birthDate":"2000","_birthDate":{"id":""}}`,
	`{"resourceType":"Patient","managingOrganization":{"reference":""}}`,
	`{"resourceType":"Patient","name":[{"family":"   "}]}`,
	`{"resourceType":"Patient","name":[{"given":["A","\t\n "]}]}`,
	`{"resourceType":"Patient","gender":" "}`,
	`{"resourceType":"Patient","extension":[{"url":" ","valueString":"x"}]}`,
	`{"resourceType":"Patient","name":[]}`,
	`{"resourceType":"Patient","name":[{}]}`,
	`{"resourceType":"Patient","address":[{"city":"X"},{}]}`,
	`{"resourceType":"Patient","maritalStatus":{}}`,
	`{"resourceType":"Patient","birthDate":"2000","_birthDate":{"extension":[]}}`,
	`{"resourceType":"Patient","maritalStatus":{"coding":[{}],"text":null}}`,
	`{"resourceType":"Patient","name":[{"family":null}]}`,
	`{"resourceType":"Patient","birthDate":"2000","_birthDate":{}}`,
	`{"resourceType":"Patient","contained":[{}]}`,
	`{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o","alias":[]}]}`,
	`{"resourceType":"Patient","telecom":[],"name":[{"given":[]}],"address":[{}]}`,
	`{"resourceType":"Patient","Sam Example":[]}`,
	`{"resourceType":"Patient","gender":null}`,
	`{"resourceType":"Patient","name":[null]}`,
	`{"resourceType":"Patient","name":[{"given":["a",null]}]}`,
	`{"resourceType":"Patient","name":[{"given":["a",null],"_given":[null,null]}]}`,
	`{"resourceType":"Patient","name":[{"given":["a",null],"_given":[{"id":"g"}]}]}`,
	`{"resourceType":"Patient","birthDate":"2000","_birthDate":null}`,
	`{"resourceType":"Patient","extension":[{"url":"http://x.org/e","valueString":null}]}`,
	`{"resourceType":"Patient","contained":[null]}`,
	`{"resourceType":"Patient","name":[{"family":"a\udc00"}]}`,
	`{"resourceType":"Patient","name":[{"family":"a\uD800"}]}`,
	`{"resourceType":"Patient","name":[{"given":["ok","\ud83d\u0041"]}]}`,
	`{"resourceType":"Patient","name":[{"family":"\ud83d\ud83d"}]}`,
	`{"resourceType":"Patient","\udc00":1}`,
	`{"resourceType":"Patient","communication":[{"language":{"text":"x"}},{"preferred":true}]}`,
	`{"resourceType":"Patient","contained":[{"id":"x"}]}`,
	`{"resourceType":"Patient","managingOrganization":{"reference":"Organization/"}}`,
	`{"resourceType":"Patient","managingOrganization":{"reference":"Organization/a b"}}`,
	`{"resourceType":"Patient","generalPractitioner":[{"reference":"Doctor/1"}]}`,
	`{"resourceType":"Patient","managingOrganization":{"reference":"http://ehr example/Organization/1"}}`,
	`{"resourceType":"Patient","managingOrganization":{"reference":"urn:uuid:1234"}}`,
	`{"resourceType":"Patient","managingOrganization":{"reference":"Patient/123"}}`,

	// Beyond TestResourceErrors: where the compiled tables could part from
	// google's unmarshaller.
	`{"resourceType":"Patient","gender":"MALE"}`,
	`{"resourceType":"Patient","multipleBirthInteger":1.0}`,
	`{"resourceType":"Patient","multipleBirthInteger":1e2}`,
	`{"resourceType":"Patient","multipleBirthInteger":-0}`,
	`{"resourceType":"Patient","multipleBirthInteger":3000000000}`,
	`{"resourceType":"Patient","birthDate":"0000"}`,
	`{"resourceType":"Patient","birthDate":"2020-00"}`,
	`{"resourceType":"Patient","birthDate":"2020-01-00"}`,
	`{"resourceType":"Patient","deceasedDateTime":"2020-01-01T10:00:00.123+05:30"}`,
	`{"resourceType":"Patient","deceasedDateTime":"2020-01-01T10:00:00+14:00"}`,
	`{"resourceType":"Patient","deceasedDateTime":"2020-01-01T10:00Z"}`,
	`{"resourceType":"Patient","deceasedDateTime":"2020-01-01T10:00:00"}`,
	`{"resourceType":"Patient","managingOrganization":{"reference":"Patient/1/_history/2"}}`,
	`{"resourceType":"Patient","managingOrganization":{"reference":"Organization/1/extra"}}`,
	`{"resourceType":"Patient","managingOrganization":{"reference":"Organization/1/_history/2"}}`,
	`{"resourceType":"Patient","managingOrganization":{"reference":"#org"}}`,
	`{"resourceType":"Patient","managingOrganization":{"reference":"http://x.org/fhir/Patient/1"}}`,
	`{"resourceType":"Patient","generalPractitioner":[{"reference":"Device/1"}]}`,
	`{"resourceType":"Patient","extension":[{"url":"http://x.org/e","valueString":"a","valueBoolean":true}]}`,
	`{"resourceType":"Patient","extension":[{"url":"http://x.org/e","_valueString":{"id":"x"}}]}`,
	`{"resourceType":"Patient","extension":[{"valueString":"a"}]}`,
	`{"resourceType":"Patient","name":[{"given":["a",null],"_given":[null,{"id":"x"}]}]}`,
	`{"resourceType":"Observation","status":"final","code":{"text":"w"},"valueQuantity":{"value":1},"valueString":"x"}`,
	`{"resourceType":"Observation","status":"final","code":{"text":"w"},"valueQuantity":{"value":1e400}}`,
	`{"resourceType":"Observation","status":"final","code":{"text":"w"},"valueQuantity":{"value":"1"}}`,
	`{"resourceType":"Observation","status":"final","code":{"text":"w"},"valueTime":"25:00:00"}`,
	`{"resourceType":"Observation","status":"final","code":{"text":"w"},"issued":"2020-01-01T10:00Z"}`,
	`{"resourceType":"Patient","contained":[{"resourceType":"Observation","id":"o","code":{"text":"w"}}]}`,
	`{"resourceType":"Patient","contained":[{"resourceType":"Patient","contained":[{"resourceType":"Patient","id":"p"}]}]}`,
	`{"resourceType":"Patient","id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}`,
	`{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}}`,
	`{"resourceType":"Patient","text":{"status":"generated"}}`,
	`{"resourceType":"Appointment","status":"booked","participant":[{"status":"accepted"}],"minutesDuration":0}`,
	`{"resourceType":"Appointment","status":"booked","participant":[{"status":"accepted"}],"minutesDuration":-1}`,
	`{"resourceType":"Appointment","status":"booked","participant":[{"status":"accepted"}],"minutesDuration":1.5}`,
	`{"resourceType":"Patient","photo":[{"size":3000000000}]}`,
	`{"resourceType":"Patient","photo":[{"size":-1}]}`,
	`{"resourceType":"Patient","photo":[{"data":"abc"}]}`,
	`{"resourceType":"Patient","photo":[{"data":"YWJj"}]}`,
	`{"resourceType":"Patient","_gender":"x"}`,
	`{"resourceType":"Patient","gender":{"value":"male"}}`,
	`{"resourceType":"Patient","name":[{"resourceType":"x"}]}`,
	`{"resourceType":"Patient","active":"true"}`,
	`{"resourceType":"Patient","identifier":[{"system":"http://a b"}]}`,
	`{"resourceType":"Patient","identifier":[{"system":"http://a:b/c"}]}`,
	`{"resourceType":"Patient","identifier":[{"system":"%zz"}]}`,
	`{"resourceType":"Patient","identifier":[{"value":"a\u0001"}]}`,
	`{"resourceType":"Patient","communication":[{"language":{"coding":[{"code":"a  b"}]}}]}`,
	`{"resourceType":"Patient","deceasedBoolean":true,"_deceasedDateTime":{"id":"a"}}`,
	`{"resourceType":"Patient","active":true,"_active":{"id":"a"}}`,
	`{"resourceType":"Patient","active":true,"_active":[{"id":"a"}]}`,
	`{"resourceType":"Patient","name":{"family":"x"},"Zz":1}`,
	`{"resourceType":"Patient","name":[{"family":["x"]}]}`,
	`{"resourceType":"Patient","link":[{"type":"seealso"}]}`,
	`{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"Patient","gender":"x"},"request":{"method":"POST","url":"Patient"}}]}`,
	`{"resourceType":"Bundle","type":"batch","entry":[{"resource":"x","request":{"method":"POST","url":"Patient"}}]}`,
	`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"POST","url":"Patient"}}]}`,
	`{"resourceType":"Bundle","type":"collection"}`,
	`{"resourceType":"Bundle","type":"batch","type":"collection"}`,
	`{"resourceType":"Bundle","type":5}`,
	`{"resourceType":"Patient","resourceType":"Observation"}`,
	`{"id":"x","resourceType":"Patient"}`,
	`{"resourceType":"Patient","meta":{"lastUpdated":"2020-01-01"}}`,
	`{"resourceType":"Patient","meta":{"versionId":"1 2"}}`,
	`{"resourceType":"Patient","contact":[{"gender":"other"}]}`,
	`{"resourceType":"Patient","photo":[{"data":"YWJj ZGVm"}]}`,
	`{"resourceType":"Patient","photo":[{"data":"YWJj ZGVm  Z2hp"}]}`,
	`{"resourceType":"Patient","photo":[{"data":"YW Jj"}]}`,
	`{"resourceType":"Patient","photo":[{"data":"YWJj\n"}]}`,
	`{"resourceType":"Patient","photo":[{"contentType":"a  b"}]}`,
	`{"resourceType":"Patient","text":{"status":"generated","div":"<div>\u0001</div>"}}`,
	`{"resourceType":"Patient","name":[{"text":"\u0001"}]}`,
	`{"resourceType":"Patient","managingOrganization":{"reference":"#\u0001"}}`,
	`{"resourceType":"Patient","communication":[{"language":{"coding":[{"code":"a\tb"}]}}]}`,
	`{"resourceType":"Patient","Gender":"male"}`,
	`{"resourceType":"Patient","gend\u0065r":"male"}`,
	`{"resourceType":"Patient","name":[{"given":["a","b"],"_given":[{"id":"x"}]}]}`,
}

// BenchmarkHL7Examples validates every HL7 R4 example (or, without
// ../shared, the project's valid samples) with both validators and reports
// the median time and allocations per resource.
func BenchmarkHL7Examples(b *testing.B) {
	root := testenv.RepoRoot(b)
	files, _ := filepath.Glob(filepath.Join(root, "..", "shared", "fhir-r4-examples", "*.json"))
	if len(files) == 0 {
		files, _ = filepath.Glob(filepath.Join(root, "testdata", "fhir", "valid", "*.json"))
	}
	bodies := make([][]byte, len(files))
	for i, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		bodies[i] = body
	}
	v := mustValidator(b)
	for _, c := range []struct {
		name string
		run  func([]byte)
	}{
		{"oracle", func(body []byte) { _, _ = v.resourceViaGoogle(body, "") }},
		{"compiled", func(body []byte) { _, _, _ = validateCompiled(body, "") }},
	} {
		b.Run(c.name, func(b *testing.B) {
			perFile := make([][]float64, len(bodies)) // ns per run
			allocs := make([][]float64, len(bodies))
			for b.Loop() {
				for i, body := range bodies {
					var m0, m1 runtime.MemStats
					runtime.ReadMemStats(&m0)
					start := time.Now()
					c.run(body)
					perFile[i] = append(perFile[i], float64(time.Since(start).Nanoseconds()))
					runtime.ReadMemStats(&m1)
					allocs[i] = append(allocs[i], float64(m1.Mallocs-m0.Mallocs))
				}
			}
			b.ReportMetric(median(medians(perFile))/1e3, "median-µs/resource")
			b.ReportMetric(median(medians(allocs)), "median-allocs/resource")
		})
	}
}

func medians(runs [][]float64) []float64 {
	out := make([]float64, len(runs))
	for i, r := range runs {
		out[i] = median(r)
	}
	return out
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
