package infra_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/ticketsaga/saga/infra"
	"github.com/ticketsaga/saga/shared/event"
	"github.com/ticketsaga/saga/shared/saga"
)

// TestSchemaIsTheEnvelope: the schema's fields are exactly the envelope's
// JSON, each with the JSON type Go writes. The emulator ignores fields the
// schema does not know, so a field added to the envelope alone would pass
// every local test; and a union would need Avro's JSON union form, which
// encoding/json does not write.
func TestSchemaIsTheEnvelope(t *testing.T) {
	t.Parallel()
	decl, err := infra.Load()
	if err != nil {
		t.Fatal(err)
	}
	var schema any
	if err := json.Unmarshal([]byte(decl.Schema.Definition), &schema); err != nil {
		t.Fatal(err)
	}
	rec := event.Record{EventType: saga.FailedTicket, Service: saga.TicketService, At: time.Now(), EventID: "e", Reason: "sold_out"}
	env := event.Envelope{ID: "o", Order: &event.Order{UserID: "u", TicketID: "t", Quantity: 1, Price: 1, History: []event.Record{rec}},
		Point: &event.Section{Reason: "r", History: []event.Record{rec}}, Ticket: &event.Section{Reason: "r", History: []event.Record{rec}}}
	data, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	var wire any
	if err := json.Unmarshal(data, &wire); err != nil {
		t.Fatal(err)
	}
	named := map[string]any{}
	if err := matches("envelope", schema, wire, named); err != nil {
		t.Error(err)
	}
}

// matches checks the JSON value v against the Avro type s; named holds the
// record types defined so far, which later fields refer to by name.
func matches(path string, s, v any, named map[string]any) error {
	switch s := s.(type) {
	case string:
		if def, ok := named[s]; ok {
			return matches(path, def, v, named)
		}
		var ok bool
		switch s {
		case "string":
			_, ok = v.(string)
		case "long":
			f, isNum := v.(float64)
			ok = isNum && f == float64(int64(f))
		default:
			return fmt.Errorf("%s: type %q: the envelope uses string, long, records and arrays only", path, s)
		}
		if !ok {
			return fmt.Errorf("%s: %v (%T) is not a %s", path, v, v, s)
		}
		return nil
	case map[string]any:
		switch s["type"] {
		case "record":
			named[s["name"].(string)] = s
			obj, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("%s: %v is not an object", path, v)
			}
			var fields []string
			for _, f := range s["fields"].([]any) {
				f := f.(map[string]any)
				name := f["name"].(string)
				fields = append(fields, name)
				fv, ok := obj[name]
				if !ok {
					return fmt.Errorf("%s: the envelope has no %s", path, name)
				}
				if err := matches(path+"."+name, f["type"], fv, named); err != nil {
					return err
				}
			}
			if keys := slices.Sorted(maps.Keys(obj)); !slices.Equal(keys, slices.Sorted(slices.Values(fields))) {
				return fmt.Errorf("%s: the envelope has %v, the schema %v", path, keys, fields)
			}
			return nil
		case "array":
			arr, ok := v.([]any)
			if !ok || len(arr) == 0 {
				return fmt.Errorf("%s: %v is not a non-empty array", path, v)
			}
			for i, item := range arr {
				if err := matches(fmt.Sprintf("%s[%d]", path, i), s["items"], item, named); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return fmt.Errorf("%s: schema type %v is not supported here (a union?)", path, s)
}
