package httpjson

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	type body struct {
		N    *int64  `json:"n"`
		Name *string `json:"name"`
	}
	for _, tc := range []struct {
		name, in   string
		wantStatus int
		wantCode   string
	}{
		{"ok", `{"n":1}`, 0, ""},
		{"ok with space", " \n{ \"n\" : 1 , \"name\":\"x\" }\n", 0, ""},
		{"unknown field", `{"n":1,"x":2}`, 400, "unknown_field"},
		{"case variant", `{"N":1}`, 400, "unknown_field"},
		{"case variant beside the field", `{"n":1,"N":2}`, 400, "unknown_field"},
		{"duplicate", `{"n":1,"n":2}`, 400, "duplicate_key"},
		{"wrong type", `{"n":"1"}`, 400, "invalid_type"},
		{"float", `{"n":1.5}`, 400, "invalid_type"},
		{"exponent", `{"n":1e3}`, 400, "invalid_type"},
		{"huge number", `{"n":1e400}`, 400, "invalid_type"},
		{"past int64", `{"n":9223372036854775808}`, 400, "invalid_type"},
		{"nested object", `{"n":{"v":1}}`, 400, "nesting_too_deep"},
		{"nested array", `{"name":["x"]}`, 400, "nesting_too_deep"},
		{"array", `[{"n":1}]`, 400, "not_an_object"},
		{"string", `"n"`, 400, "not_an_object"},
		{"number", `1`, 400, "not_an_object"},
		{"null", `null`, 400, "not_an_object"},
		{"empty", ``, 400, "invalid_json"},
		{"spaces only", `   `, 400, "invalid_json"},
		{"unterminated", `{"n":1`, 400, "invalid_json"},
		{"trailing object", `{"n":1}{}`, 400, "trailing_data"},
		{"trailing garbage", `{"n":1} x`, 400, "trailing_data"},
		{"too big", `{"n":1,"pad":"` + strings.Repeat("x", MaxBody) + `"}`, 413, "body_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tc.in))
			var b body
			err := Decode(httptest.NewRecorder(), r, &b)
			switch {
			case tc.wantStatus == 0 && err != nil:
				t.Fatalf("Decode: %v", err)
			case tc.wantStatus != 0 && (err == nil || err.Status != tc.wantStatus || err.Code != tc.wantCode):
				t.Fatalf("Decode err = %v, want %d %s", err, tc.wantStatus, tc.wantCode)
			}
		})
	}
}

func TestFieldNames(t *testing.T) {
	t.Parallel()
	var b struct {
		A      int `json:"a"`
		B      int `json:"b,omitempty"`
		Hidden int `json:"-"`
		C      int
		d      int
	}
	_ = b.d
	got := fieldNames(&b)
	if len(got) != 3 || !got["a"] || !got["b"] || !got["C"] {
		t.Errorf("fieldNames = %v", got)
	}
}

func TestWriteErrorHidesInternals(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	WriteError(w, httptest.NewRequest("GET", "/", nil), discard(), errString("secret db failure"))
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "secret") {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
