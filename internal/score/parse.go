package score

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// kube-score's grades (scorecard.Grade in v1.20.0). Only Critical and Warning fail a check.
const (
	gradeCritical = 1
	gradeWarning  = 5
	gradeAlmostOK = 7
	gradeAllOK    = 10
)

// scoredObject is one object of kube-score's JSON output, format v2 (renderer/json_v2).
type scoredObject struct {
	ObjectName string      `json:"object_name"`
	FileName   string      `json:"file_name"`
	FileRow    int         `json:"file_row"`
	Checks     []testScore `json:"checks"`
}

type testScore struct {
	Check struct {
		Name     string `json:"name"`
		ID       string `json:"id"`
		Comment  string `json:"comment"`
		Optional bool   `json:"optional"`
	} `json:"check"`
	Grade    int  `json:"grade"`
	Skipped  bool `json:"skipped"`
	Comments []struct {
		Path        string `json:"path"`
		Summary     string `json:"summary"`
		Description string `json:"description"`
	} `json:"comments"`
}

// parse reads kube-score's JSON (v2) output into findings, the rules of the checks that ran, and
// the number of CRITICAL checks kube-score counts for its exit code. Output that is not
// kube-score's JSON, or that names an object Tollgate did not give it, is an error: the caller
// reports it as a tool error, so the stage fails closed.
func parse(out []byte, o Options, b *Batch) (findings []model.Finding, rules []model.Rule, criticals int, err error) {
	objs, err := decodeOutput(out)
	if err != nil {
		return nil, nil, 0, err
	}
	enabled := map[string]bool{}
	for _, id := range o.EnabledOptional() {
		enabled[id] = true
	}
	findings = []model.Finding{}
	ruleByID := map[string]model.Rule{}
	reported := map[string]bool{}
	// kube-score merges objects with the same kind, namespace and name into one, listing its
	// checks once per copy; report each finding once.
	seen := map[string]bool{}
	for _, obj := range objs {
		if obj.ObjectName == "" {
			return nil, nil, 0, errors.New("read kube-score JSON output: an object has no object_name")
		}
		reported[obj.ObjectName] = true
		src, ok := b.lookup(obj.FileName, obj.FileRow, obj.ObjectName)
		if !ok {
			return nil, nil, 0, fmt.Errorf("kube-score reported on %s (%s), which is not among its inputs", obj.ObjectName, obj.FileName)
		}
		for _, ts := range obj.Checks {
			id := ts.Check.ID
			if id == "" {
				return nil, nil, 0, fmt.Errorf("read kube-score JSON output: a check of %s has no id", obj.ObjectName)
			}
			switch {
			case ts.Grade == 0 && ts.Skipped: // a check that found it does not apply leaves no grade
			case ts.Grade == gradeCritical, ts.Grade == gradeWarning, ts.Grade == gradeAlmostOK, ts.Grade == gradeAllOK:
			default:
				return nil, nil, 0, fmt.Errorf("read kube-score JSON output: check %s of %s has unknown grade %d", id, obj.ObjectName, ts.Grade)
			}
			ignored := ts.Skipped && ignoredByKubeScore(ts)
			// kube-score lists optional checks it did not run as ignored; they are not in force.
			if ignored && ts.Check.Optional && !enabled[id] {
				continue
			}
			if !ts.Skipped && ts.Grade == gradeCritical {
				criticals++
			}
			if _, seen := ruleByID[id]; !seen {
				ruleByID[id] = ruleFor(ts, o)
			}
			if !failing(ts) || ts.Skipped && !ignored {
				continue
			}
			f := finding(ts, o, src)
			if ignored {
				// Any other ignored check was ignored by the object's own kube-score/ignore
				// annotation: keep the finding, visibly suppressed. kube-score replaced its
				// comments, so say what the check wants instead.
				f.Message = "Ignored by the object's kube-score/ignore annotation; the check: " + sentence(ts.Check.Comment)
				f.Suppression = &model.Suppression{Kind: "annotation",
					Reason: "kube-score/ignore annotation on " + src.Resource}
			}
			key := strings.Join([]string{f.RuleID, f.Location.File, strconv.Itoa(f.Location.Line), f.Location.Resource, f.Message}, "\x00")
			if !seen[key] {
				seen[key] = true
				findings = append(findings, f)
			}
		}
	}
	// A kind kube-score scores but did not report on means the output is cut short or not
	// kube-score's: a gate that did not look must not pass.
	var missing []string
	for key, res := range b.scored {
		if !reported[key] {
			missing = append(missing, res)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, nil, 0, fmt.Errorf("kube-score did not report on %s", strings.Join(missing, ", "))
	}
	sort.SliceStable(findings, func(i, j int) bool {
		a, c := findings[i], findings[j]
		if a.Location.File != c.Location.File {
			return a.Location.File < c.Location.File
		}
		if a.Location.Line != c.Location.Line {
			return a.Location.Line < c.Location.Line
		}
		return a.RuleID < c.RuleID
	})
	rules = make([]model.Rule, 0, len(ruleByID))
	for _, r := range ruleByID {
		rules = append(rules, r)
	}
	sort.Slice(rules, func(i, j int) bool { return rules[i].ID < rules[j].ID })
	return findings, rules, criticals, nil
}

// decodeOutput reads kube-score's JSON (v2) output: exactly one array of objects. The output
// lists every check of every object (1.4 MB for 250 small manifests): encoding/json took as long
// to read it as the rest of the stage around kube-score, the JSON v2 decoder a third of that
// (issue 14). It is stricter, too (valid UTF-8, no duplicate names), which only fails closed.
func decodeOutput(out []byte) ([]scoredObject, error) {
	var objs []scoredObject
	dec := jsontext.NewDecoder(bytes.NewReader(out))
	if err := json.UnmarshalDecode(dec, &objs); err != nil {
		return nil, fmt.Errorf("read kube-score JSON output: %w (output starts %q)", err, head(out))
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read kube-score JSON output: unexpected data after the JSON document")
	}
	return objs, nil
}

// Severity maps a failing kube-score grade of a check to Tollgate's severity.
func (o Options) Severity(id string, grade int) model.Severity {
	if s, ok := o.Checks[id]; ok && s != model.SeverityUnknown {
		return s
	}
	if grade <= gradeCritical {
		return o.Critical
	}
	return o.Warning
}

func finding(ts testScore, o Options, src source) model.Finding {
	c, known := lookupCheck(ts.Check.ID)
	f := model.Finding{
		Stage:    Name,
		RuleID:   ts.Check.ID,
		Severity: o.Severity(ts.Check.ID, ts.Grade),
		Title:    ts.Check.Name,
		Location: model.Location{File: src.File, Line: src.Line, Resource: src.Resource},
		Extra:    map[string]string{"kube-score-grade": gradeName(ts.Grade)},
	}
	// Comments name what they are about (Path: a container, a label, an Ingress path); group
	// them so a message reads "container web: A; B" rather than repeating the name per comment.
	var paths []string
	byPath := map[string][]string{}
	var descs []string
	for _, cm := range ts.Comments {
		if sm := strings.TrimSpace(cm.Summary); sm != "" && !containsString(byPath[cm.Path], sm) {
			if _, ok := byPath[cm.Path]; !ok {
				paths = append(paths, cm.Path)
			}
			byPath[cm.Path] = append(byPath[cm.Path], sm)
		}
		if d := sentence(cm.Description); d != "" && !containsString(descs, d) {
			descs = append(descs, d)
		}
	}
	noun := "container"
	switch ts.Check.ID {
	case "label-values":
		// kube-score walks the labels map, in an order that changes from run to run: sort, so
		// the message (and the finding's identity) is the same every time.
		noun = "label"
		sort.Strings(paths)
	case "ingress-targets-service":
		noun = "path"
	}
	var msgs []string
	for _, p := range paths {
		m := strings.Join(byPath[p], "; ")
		if p != "" {
			m = noun + " " + p + ": " + m
		}
		msgs = append(msgs, m)
	}
	switch {
	case len(msgs) > 0:
		f.Message = strings.Join(msgs, ". ")
	case ts.Check.Comment != "":
		f.Message = strings.TrimSpace(ts.Check.Comment)
	default:
		f.Message = ts.Check.Name + " failed"
	}
	if len(descs) > 0 {
		f.Message = sentence(f.Message) + " " + strings.Join(descs, " ")
	}
	if known {
		f.Fix, f.URL = c.Fix, c.URL
		if c.Control != "" {
			f.Extra["control"] = c.Control
		}
	} else if len(descs) > 0 {
		f.Fix = strings.Join(descs, " ")
	}
	if f.URL == "" {
		f.URL = checksDocURL
	}
	return f
}

// failing reports whether a check's grade fails it (CRITICAL or WARNING; 0 is no grade).
func failing(ts testScore) bool { return ts.Grade > 0 && ts.Grade <= gradeWarning }

// ignoredByKubeScore recognises the comment kube-score puts on a check it skipped because of a
// kube-score/ignore annotation or because it is optional and not enabled (scorecard.Add).
func ignoredByKubeScore(ts testScore) bool {
	return len(ts.Comments) == 1 && ts.Comments[0].Summary == "Skipped because "+ts.Check.ID+" is ignored"
}

// ruleFor is the rule metadata of a check, at the severity a CRITICAL grade of it maps to.
func ruleFor(ts testScore, o Options) model.Rule {
	r := model.Rule{ID: ts.Check.ID, Name: ts.Check.Name, Severity: o.Severity(ts.Check.ID, gradeCritical),
		Summary: strings.TrimSpace(ts.Check.Comment), URL: checksDocURL}
	if c, ok := lookupCheck(ts.Check.ID); ok {
		r.Fix = c.Fix
		if c.URL != "" {
			r.URL = c.URL
		}
	}
	return r
}

func gradeName(g int) string {
	if g <= gradeCritical {
		return "CRITICAL"
	}
	return "WARNING"
}

// sentence trims s and ends it with a full stop, so joined comments read as sentences.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasSuffix(s, ".") || strings.HasSuffix(s, "!") || strings.HasSuffix(s, "?") {
		return s
	}
	return s + "."
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func head(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 80 {
		b = b[:80]
	}
	return string(b)
}
