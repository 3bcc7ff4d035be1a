// Command writefixtures writes the fixture images for demos and manual runs:
// go run ./internal/testimage/cmd/writefixtures -out DIR
// produces DIR/vulnerable.tar, DIR/vulnerable.oci.tar, DIR/vulnerable-layout/, DIR/clean.tar.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tollgate-dev/tollgate/internal/testimage"
)

func main() {
	out := flag.String("out", "", "directory to write the fixture images into (required)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "writefixtures: -out is required")
		os.Exit(2)
	}
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "writefixtures:", err)
		os.Exit(1)
	}
}

func run(out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	bin, err := testimage.GoBinary(context.Background(), out)
	if err != nil {
		return err
	}
	vuln, err := testimage.Vulnerable(bin)
	if err != nil {
		return err
	}
	clean, err := testimage.Clean()
	if err != nil {
		return err
	}
	steps := []struct {
		name string
		fn   func(string) error
	}{
		{"vulnerable.tar", func(p string) error { return testimage.WriteDockerArchive(vuln, "tollgate/fixture-vulnerable:1", p) }},
		{"vulnerable.oci.tar", func(p string) error { return testimage.WriteOCIArchive(vuln, p) }},
		{"vulnerable-layout", func(p string) error { os.RemoveAll(p); return testimage.WriteOCILayout(vuln, p) }},
		{"clean.tar", func(p string) error { return testimage.WriteDockerArchive(clean, "tollgate/fixture-clean:1", p) }},
	}
	for _, s := range steps {
		p := filepath.Join(out, s.name)
		if err := s.fn(p); err != nil {
			return err
		}
		fmt.Println(p)
	}
	return nil
}
