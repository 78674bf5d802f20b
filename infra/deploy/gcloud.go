package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// Gcloud runs gcloud commands, or, in a dry run, only prints them.
type Gcloud struct {
	Dry bool
	Out io.Writer // where every command is printed
	Env []string  // extra environment (emulator overrides in tests)
}

// errNotFound is a describe of something that does not exist.
var errNotFound = errors.New("not found")

// Run prints and runs one gcloud command and returns its standard output.
func (g *Gcloud) Run(args ...string) (string, error) {
	fmt.Fprintln(g.Out, Quote(append([]string{"gcloud"}, args...)))
	if g.Dry {
		return "", nil
	}
	return g.exec(args)
}

// Describe runs a read-only gcloud command; errNotFound when the resource
// is absent. A dry run prints it and answers errNotFound: it plans for an
// empty project.
func (g *Gcloud) Describe(args ...string) (string, error) {
	fmt.Fprintln(g.Out, Quote(append([]string{"gcloud"}, args...)))
	if g.Dry {
		return "", errNotFound
	}
	return g.exec(args)
}

func (g *Gcloud) exec(args []string) (string, error) {
	cmd := exec.Command("gcloud", append(args, "--quiet")...)
	cmd.Env = append(os.Environ(), g.Env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(msg, "NOT_FOUND") || strings.Contains(msg, "not found") || strings.Contains(msg, "does not exist") {
			return "", fmt.Errorf("%w: %s", errNotFound, msg)
		}
		if strings.Contains(msg, "ALREADY_EXISTS") || strings.Contains(msg, "already exists") {
			return "", fmt.Errorf("%w: %s", errExists, msg)
		}
		return "", fmt.Errorf("gcloud %s: %v: %s", strings.Join(args, " "), err, msg)
	}
	return strings.TrimSpace(stdout.String()), nil
}

// errExists is a create of something that already exists.
var errExists = errors.New("already exists")

// Quote renders argv as a shell command a person can paste.
func Quote(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@,+%") == "" {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}
