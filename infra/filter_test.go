package infra

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/ticketsaga/saga/shared/saga"
)

// TestMatchesIsFilter: the filter the local stack applies (Matches) lets
// through exactly what Pub/Sub's filter (Filter) does, for every
// subscription and every event type, redriven to any subscription or not.
// evalFilter reads Pub/Sub's filter syntax (the part Filter writes).
func TestMatchesIsFilter(t *testing.T) {
	t.Parallel()
	p, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	types := append(slices.Clone(saga.EventTypes), "not-an-event", "")
	redrives := []string{"", "nobody-events"}
	for _, s := range p.Subscriptions {
		redrives = append(redrives, s.Name)
	}
	checked := 0
	for _, s := range p.Subscriptions {
		for _, et := range types {
			for _, to := range redrives {
				attrs := map[string]string{saga.AttrEventType: string(et)}
				if to != "" {
					attrs[saga.AttrRedriveTo] = to
				}
				want, err := evalFilter(s.Filter(), attrs)
				if err != nil {
					t.Fatalf("%s: %v", s.Filter(), err)
				}
				if got := s.Matches(attrs); got != want {
					t.Errorf("%s with %v: Matches %v, filter %v", s.Name, attrs, got, want)
				}
				checked++
			}
		}
	}
	if checked < 30 {
		t.Fatalf("checked %d cases", checked)
	}
}

func TestEvalFilter(t *testing.T) {
	t.Parallel()
	attrs := map[string]string{"a": "x"}
	for f, want := range map[string]bool{`attributes.a = "x"`: true, `attributes.a = "y"`: false, `attributes:a`: true,
		`NOT attributes:b`: true, `(attributes:b) OR attributes.a = "x"`: true, `attributes:a AND attributes:b`: false} {
		if got, err := evalFilter(f, attrs); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", f, got, err, want)
		}
	}
	if _, err := evalFilter(`attributes.a = `, attrs); err == nil {
		t.Error("a broken filter parsed")
	}
}

// evalFilter evaluates a Pub/Sub filter made of attributes.KEY = "V",
// attributes:KEY, NOT, AND, OR and parentheses.
func evalFilter(filter string, attrs map[string]string) (bool, error) {
	p := &filterParser{toks: tokenize(filter), attrs: attrs}
	v, err := p.or()
	if err == nil && p.i != len(p.toks) {
		err = fmt.Errorf("trailing %q", p.toks[p.i:])
	}
	return v, err
}

type filterParser struct {
	toks  []string
	i     int
	attrs map[string]string
}

func (p *filterParser) next() string {
	if p.i >= len(p.toks) {
		return ""
	}
	p.i++
	return p.toks[p.i-1]
}

func (p *filterParser) peek() string {
	if p.i >= len(p.toks) {
		return ""
	}
	return p.toks[p.i]
}

func (p *filterParser) or() (bool, error) {
	v, err := p.and()
	for err == nil && p.peek() == "OR" {
		p.next()
		var r bool
		r, err = p.and()
		v = v || r
	}
	return v, err
}

func (p *filterParser) and() (bool, error) {
	v, err := p.unary()
	for err == nil && p.peek() == "AND" {
		p.next()
		var r bool
		r, err = p.unary()
		v = v && r
	}
	return v, err
}

func (p *filterParser) unary() (bool, error) {
	switch tok := p.next(); {
	case tok == "NOT":
		v, err := p.unary()
		return !v, err
	case tok == "(":
		v, err := p.or()
		if err == nil && p.next() != ")" {
			err = fmt.Errorf("missing )")
		}
		return v, err
	case strings.HasPrefix(tok, "attributes:"):
		_, ok := p.attrs[strings.TrimPrefix(tok, "attributes:")]
		return ok, nil
	case strings.HasPrefix(tok, "attributes."):
		if p.next() != "=" {
			return false, fmt.Errorf("%s: want =", tok)
		}
		val := p.next()
		if len(val) < 2 || val[0] != '"' || val[len(val)-1] != '"' {
			return false, fmt.Errorf("%s: want a quoted value, got %q", tok, val)
		}
		got, ok := p.attrs[strings.TrimPrefix(tok, "attributes.")]
		return ok && got == val[1:len(val)-1], nil
	default:
		return false, fmt.Errorf("unexpected %q", tok)
	}
}

func tokenize(s string) []string {
	var toks []string
	for i := 0; i < len(s); {
		switch c := rune(s[i]); {
		case unicode.IsSpace(c):
			i++
		case c == '(' || c == ')' || c == '=':
			toks = append(toks, string(c))
			i++
		case c == '"':
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				return append(toks, s[i:])
			}
			toks = append(toks, s[i:i+j+2])
			i += j + 2
		default:
			j := i
			for j < len(s) && !unicode.IsSpace(rune(s[j])) && !strings.ContainsRune("()=\"", rune(s[j])) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks
}
