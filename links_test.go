package ticketsaga

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// TestDocumentLinksResolve: every relative link in the README, the docs
// and the services' READMEs names a file inside this repository, and a
// heading of it when the link has a fragment. A clone holds everything its
// documents point to.
func TestDocumentLinksResolve(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	var docs []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "tools" ||
			d.Name() == "test-output" || d.Name() == "bench-results" || d.Name() == "bin") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".md") {
			docs = append(docs, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) < 10 {
		t.Fatalf("found only %d documents under %s", len(docs), root)
	}
	checked := 0
	for _, doc := range docs {
		for _, target := range relativeLinks(t, doc) {
			checked++
			file, fragment, _ := strings.Cut(target, "#")
			path := doc
			if file != "" {
				path = filepath.Join(filepath.Dir(doc), file)
			}
			rel, err := filepath.Rel(root, path)
			if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				t.Errorf("%s: link %q leaves the repository", relTo(root, doc), target)
				continue
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Errorf("%s: link %q: no such file %s", relTo(root, doc), target, rel)
				continue
			}
			if fragment != "" && !info.IsDir() && strings.HasSuffix(path, ".md") && !headings(t, path)[fragment] {
				t.Errorf("%s: link %q: %s has no heading #%s", relTo(root, doc), target, rel, fragment)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no relative link found")
	}
}

// markdownLink is a Markdown link or image: ](target) or ](target "title").
var markdownLink = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// relativeLinks returns the link targets of doc that are not absolute URLs,
// outside code blocks and code spans.
func relativeLinks(t *testing.T, doc string) []string {
	t.Helper()
	raw, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	fenced := false
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		for _, m := range markdownLink.FindAllStringSubmatch(withoutCodeSpans(line), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			out = append(out, target)
		}
	}
	return out
}

// withoutCodeSpans blanks what is between backticks, keeping a link whose
// text is code ([`x`](y)).
func withoutCodeSpans(line string) string {
	var b strings.Builder
	in := false
	for i, r := range line {
		if r == '`' {
			// A span that ends right before "](" is a link's text.
			if in && strings.HasPrefix(line[i:], "`](") {
				in = false
				continue
			}
			in = !in
			continue
		}
		if !in {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// headings returns the fragment ids of doc's headings, as GitHub makes
// them: lower case, punctuation dropped, spaces to hyphens.
func headings(t *testing.T, doc string) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	fenced := false
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
		}
		if fenced || !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var id strings.Builder
		for _, r := range strings.ToLower(text) {
			switch {
			case unicode.IsLetter(r), unicode.IsDigit(r), r == '-', r == '_':
				id.WriteRune(r)
			case r == ' ':
				id.WriteRune('-')
			}
		}
		ids[id.String()] = true
	}
	return ids
}

func relTo(root, path string) string {
	if rel, err := filepath.Rel(root, path); err == nil {
		return rel
	}
	return path
}
