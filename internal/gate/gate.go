// Package gate decides a stage's status from its findings, the configured threshold and the
// ignore list. It fails closed: a stage that errored never passes.
package gate

import (
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/model"
)

// Apply suppresses findings matched by live ignore entries, marks the findings that block,
// and sets the result's Status and Summary. now decides which ignores have expired.
// Results already in StatusError or StatusSkipped keep their status.
func Apply(r *model.StageResult, cfg *config.Config, now time.Time) {
	failOn := cfg.FailOn(r.Stage)
	for i := range r.Findings {
		f := &r.Findings[i]
		if f.Stage == "" {
			f.Stage = r.Stage
		}
		if f.Suppression != nil && !f.Suppression.Expires.IsZero() && !now.Before(endOfDay(f.Suppression.Expires)) {
			expired := f.Suppression
			f.Suppression = nil
			addNote(f, fmt.Sprintf("%s ignore expired on %s (%s)", expired.Kind, expired.Expires.Format("2006-01-02"), expired.Reason))
		}
		if f.Suppression != nil {
			continue
		}
		for _, ig := range cfg.Ignore {
			if !matches(ig, r.Stage, f) {
				continue
			}
			where := "tollgate.yaml"
			if cfg.Path != "" {
				where = cfg.Path
			}
			if ig.Line > 0 {
				where = fmt.Sprintf("%s:%d", where, ig.Line)
			}
			if !ig.Expires.IsZero() && !now.Before(endOfDay(ig.Expires.Time)) {
				addNote(f, fmt.Sprintf("ignore at %s expired on %s and no longer applies", where, ig.Expires.Format("2006-01-02")))
				continue
			}
			f.Suppression = &model.Suppression{Kind: "config", Reason: ig.Reason, Expires: ig.Expires.Time}
			break
		}
	}
	Decide(r, failOn)
}

// Decide sets Blocking, Status and Summary from the active findings and a threshold.
func Decide(r *model.StageResult, failOn model.Severity) {
	if r.Status == model.StatusError || r.Status == model.StatusSkipped {
		return
	}
	blocking, active := 0, 0
	worst := model.SeverityUnknown
	for i := range r.Findings {
		f := &r.Findings[i]
		f.Blocking = false
		if f.Suppression != nil {
			continue
		}
		active++
		if f.Severity >= failOn && !f.Note {
			f.Blocking = true
			blocking++
		}
		worst = max(worst, f.Severity)
	}
	suppressed := len(r.Findings) - active
	switch {
	case blocking > 0:
		r.Status = model.StatusFail
		r.Summary = fmt.Sprintf("%d finding(s) at or above %s (worst %s)", blocking, failOn, worst)
	default:
		r.Status = model.StatusPass
		if active == 0 {
			r.Summary = "no findings"
		} else {
			r.Summary = fmt.Sprintf("%d finding(s) below %s", active, failOn)
		}
	}
	if suppressed > 0 {
		r.Summary += fmt.Sprintf(", %d suppressed", suppressed)
	}
}

func endOfDay(t time.Time) time.Time {
	// An ignore that "expires 2026-12-01" still holds on that day.
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 1)
}

// addNote records why a suppression no longer applies, in the message (so every report format
// shows it) and in Extra["note"] (for machines).
func addNote(f *model.Finding, note string) {
	f.Message += " [" + note + "]"
	if f.Extra == nil {
		f.Extra = map[string]string{}
	}
	if old := f.Extra["note"]; old != "" {
		note = old + "; " + note
	}
	f.Extra["note"] = note
}

func matches(ig config.Ignore, stage string, f *model.Finding) bool {
	if !strings.EqualFold(ig.ID, f.RuleID) {
		return false
	}
	if ig.Stage != "" && ig.Stage != stage {
		return false
	}
	if ig.Resource != "" && ig.Resource != f.Location.Resource && ig.Resource != f.Extra["package"] {
		return false
	}
	if ig.Path != "" {
		file := path.Clean(f.Location.File)
		ok, _ := path.Match(ig.Path, file)
		if !ok && !strings.HasPrefix(file, strings.TrimSuffix(ig.Path, "/")+"/") && file != path.Clean(ig.Path) {
			return false
		}
	}
	return true
}
