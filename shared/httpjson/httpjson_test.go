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
		N int `json:"n"`
	}
	for _, tc := range []struct {
		name, in   string
		wantStatus int
	}{
		{"ok", `{"n":1}`, 0},
		{"unknown field", `{"n":1,"x":2}`, 400},
		{"wrong type", `{"n":"1"}`, 400},
		{"empty", ``, 400},
		{"trailing", `{"n":1}{}`, 400},
		{"too big", `{"n":1,"pad":"` + strings.Repeat("x", MaxBody) + `"}`, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tc.in))
			var b body
			err := Decode(httptest.NewRecorder(), r, &b)
			switch {
			case tc.wantStatus == 0 && err != nil:
				t.Fatalf("Decode: %v", err)
			case tc.wantStatus != 0 && (err == nil || err.Status != tc.wantStatus):
				t.Fatalf("Decode err = %v, want status %d", err, tc.wantStatus)
			}
		})
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
