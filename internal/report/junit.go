package report

import (
	"cmp"
	"encoding/xml"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// junitWriter renders JUnit XML for GitLab's test report (artifacts:reports:junit) and other CI
// test viewers. One <testsuite> per stage, one <testcase> per finding:
//   - a blocking finding is a <failure> (what GitLab lists as a failed test),
//   - a non-blocking finding passes, with its details in <system-out>,
//   - a suppressed finding is <skipped>, with the reason and expiry,
//   - a stage in error is one <error> case, a skipped stage one <skipped> case,
//   - a stage with nothing to list gets one passing case, so no suite is empty.
type junitWriter struct{}

func (junitWriter) FileName() string { return "junit.xml" }

type junitTestsuites struct {
	XMLName  xml.Name         `xml:"testsuites"`
	Name     string           `xml:"name,attr"`
	Tests    int              `xml:"tests,attr"`
	Failures int              `xml:"failures,attr"`
	Errors   int              `xml:"errors,attr"`
	Skipped  int              `xml:"skipped,attr"`
	Time     string           `xml:"time,attr"`
	Suites   []junitTestsuite `xml:"testsuite"`
}

type junitTestsuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitTestcase `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitTestcase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Line      int           `xml:"line,attr,omitempty"`
	Time      string        `xml:"time,attr"`
	Failure   *junitOutcome `xml:"failure,omitempty"`
	Error     *junitOutcome `xml:"error,omitempty"`
	Skipped   *junitOutcome `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitOutcome struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

func (junitWriter) Write(w io.Writer, run *model.Run) error {
	doc := junitFromRun(run)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encode junit report: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("encode junit report: %w", err)
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func junitFromRun(run *model.Run) junitTestsuites {
	doc := junitTestsuites{Name: "tollgate", Time: seconds(run.Duration)}
	for _, s := range run.Stages {
		if s == nil {
			continue
		}
		suite := junitSuite(run, s)
		doc.Tests += suite.Tests
		doc.Failures += suite.Failures
		doc.Errors += suite.Errors
		doc.Skipped += suite.Skipped
		doc.Suites = append(doc.Suites, suite)
	}
	return doc
}

func junitSuite(run *model.Run, s *model.StageResult) junitTestsuite {
	suite := junitTestsuite{Name: s.Stage, Time: seconds(s.Duration)}
	if !run.Started.IsZero() {
		suite.Timestamp = run.Started.UTC().Format("2006-01-02T15:04:05")
	}
	if s.Tool.Name != "" {
		suite.Properties = append(suite.Properties, junitProperty{Name: "tool", Value: toolLabel(s.Tool)})
	}
	suite.Properties = append(suite.Properties, junitProperty{Name: "status", Value: string(s.Status)})
	if s.Summary != "" {
		suite.Properties = append(suite.Properties, junitProperty{Name: "summary", Value: s.Summary})
	}
	if s.Cached {
		suite.Properties = append(suite.Properties, junitProperty{Name: "cached", Value: "true"})
	}

	blocking := 0
	for _, f := range sortedFindings(s.Findings) {
		tc := junitTestcase{
			Name:      junitCaseName(f),
			Classname: s.Stage,
			File:      filepath.ToSlash(f.Location.File),
			Line:      f.Location.Line,
			Time:      "0",
		}
		details := findingDetails(f)
		switch {
		case f.Suppression != nil:
			tc.Skipped = &junitOutcome{Message: suppressionText(f.Suppression), Text: details}
		case f.Blocking:
			blocking++
			tc.Failure = &junitOutcome{Message: oneLine(f.Message, 0), Type: f.Severity.String(), Text: details}
		default:
			tc.SystemOut = details
		}
		suite.Cases = append(suite.Cases, tc)
	}

	switch s.Status {
	case model.StatusError:
		suite.Cases = append(suite.Cases, junitTestcase{
			Name: s.Stage + ": " + cmp.Or(s.Tool.Name, "stage") + " run", Classname: s.Stage, Time: seconds(s.Duration),
			Error: &junitOutcome{Message: oneLine(cmp.Or(s.Error, "stage failed"), 0), Type: cmp.Or(s.ErrorKind, "error"), Text: s.Error},
		})
	case model.StatusSkipped:
		suite.Cases = append(suite.Cases, junitTestcase{
			Name: s.Stage + ": skipped", Classname: s.Stage, Time: "0",
			Skipped: &junitOutcome{Message: oneLine(cmp.Or(s.Error, s.Summary, "stage skipped"), 0)},
		})
	case model.StatusFail:
		// A failed gate with no blocking finding listed must still show as a failure.
		if blocking == 0 {
			suite.Cases = append(suite.Cases, junitTestcase{
				Name: s.Stage + ": gate", Classname: s.Stage, Time: seconds(s.Duration),
				Failure: &junitOutcome{Message: oneLine(cmp.Or(s.Summary, "gate failed"), 0), Type: "gate"},
			})
		}
	}
	if len(suite.Cases) == 0 {
		suite.Cases = append(suite.Cases, junitTestcase{
			Name: s.Stage + ": no findings", Classname: s.Stage, Time: seconds(s.Duration),
			SystemOut: cmp.Or(s.Summary, "no findings"),
		})
	}
	for _, tc := range suite.Cases {
		suite.Tests++
		switch {
		case tc.Failure != nil:
			suite.Failures++
		case tc.Error != nil:
			suite.Errors++
		case tc.Skipped != nil:
			suite.Skipped++
		}
	}
	return suite
}

// junitCaseName is "RULE file:line resource", the name GitLab lists.
func junitCaseName(f model.Finding) string {
	parts := []string{cmp.Or(f.RuleID, "finding")}
	switch l := f.Location; {
	case l.File != "" && l.Line > 0:
		parts = append(parts, fmt.Sprintf("%s:%d", filepath.ToSlash(l.File), l.Line))
	case l.File != "":
		parts = append(parts, filepath.ToSlash(l.File))
	}
	if f.Location.Resource != "" {
		parts = append(parts, f.Location.Resource)
	}
	return strings.Join(parts, " ")
}

// findingDetails is the plain-text body of a finding's test case.
func findingDetails(f model.Finding) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s\n", f.Severity, cmp.Or(f.RuleID, "finding"), f.Message)
	if f.Title != "" && f.Title != f.Message {
		fmt.Fprintf(&b, "Title: %s\n", f.Title)
	}
	if w := where(f.Location); w != "" {
		fmt.Fprintf(&b, "Location: %s\n", w)
	}
	if f.Fix != "" {
		fmt.Fprintf(&b, "Fix: %s\n", f.Fix)
	}
	if f.URL != "" {
		fmt.Fprintf(&b, "More: %s\n", f.URL)
	}
	for _, k := range slices.Sorted(maps.Keys(f.Extra)) {
		fmt.Fprintf(&b, "%s: %s\n", k, f.Extra[k])
	}
	if f.Suppression != nil {
		fmt.Fprintf(&b, "Suppressed: %s\n", suppressionText(f.Suppression))
	}
	return b.String()
}

// suppressionText is "suppressed (kind): reason, expires YYYY-MM-DD".
func suppressionText(s *model.Suppression) string {
	t := "suppressed (" + cmp.Or(s.Kind, "unknown") + ")"
	if s.Reason != "" {
		t += ": " + oneLine(s.Reason, 0)
	}
	if !s.Expires.IsZero() {
		t += ", expires " + s.Expires.Format(time.DateOnly)
	}
	return t
}

// seconds is a JUnit time attribute: seconds with millisecond precision.
func seconds(d time.Duration) string {
	return fmt.Sprintf("%.3f", d.Seconds())
}
