package validate

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/yannh/kubeconform/pkg/resource"
	"github.com/yannh/kubeconform/pkg/validator"

	"github.com/tollgate-dev/tollgate/internal/manifest"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/schemas"
)

// The native runner links kubeconform's validator package at the pinned version (go.mod and
// the pin table agree; a test holds them together) instead of starting the binary: the same
// validator the binary's main drives, given each document's text directly. That drops what only
// the process boundary cost — batch files, a second process start, kubeconform re-splitting the
// files, its JSON report and Tollgate reading it back — and a document's verdict needs no name
// to find its way back. The Dagger module runs the kubeconform image on Prepare's batch files;
// both read verdicts through Plan.interpret.

// inProcess validates the documents the plan hands over with kubeconform's validator, using
// workers goroutines, and returns the findings (or every unreadable document as bad input).
func (p *Plan) inProcess(ctx context.Context, locations []string, workers int) ([]model.Finding, error) {
	v, err := validator.New(locations, validator.Opts{
		KubernetesVersion: schemas.NormalizeVersion(p.opts.KubernetesVersion),
		Strict:            p.opts.Strict,
	})
	if err != nil {
		return nil, &model.ToolError{Tool: toolName, Err: err}
	}
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	q := newQueue(p)
	results := make([]validator.Result, len(p.Docs))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i, done, ok := q.take()
				if !ok || ctx.Err() != nil {
					q.stop()
					return
				}
				results[i] = v.ValidateResource(resource.Resource{Path: p.Docs[i].File, Bytes: p.texts[i]})
				done()
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, &model.ToolError{Tool: toolName, Err: err}
	}
	var findings []model.Finding
	var bad manifest.Errors
	for i := range p.Docs {
		if _, handed := p.texts[i]; !handed {
			continue
		}
		r, err := verdict(p.Docs[i], results[i])
		if err == nil {
			err = p.interpret(i, r, &findings, &bad)
		}
		if err != nil {
			return nil, err
		}
	}
	return sortedOrInput(findings, bad)
}

// verdict is a validator result in the form kubeconform's JSON output gives it, so both runners
// read verdicts the same way. An empty verdict on a document Tollgate loaded means kubeconform
// checked nothing: the stage fails closed.
func verdict(d manifest.Document, r validator.Result) (kcResult, error) {
	out := kcResult{Filename: d.File, Kind: d.Kind, Version: d.APIVersion}
	if r.Err != nil {
		out.Msg = r.Err.Error()
	}
	switch r.Status {
	case validator.Valid:
		out.Status = "statusValid"
	case validator.Invalid:
		out.Status = "statusInvalid"
	case validator.Error:
		out.Status = "statusError"
	case validator.Skipped:
		out.Status = "statusSkipped"
	default:
		return out, &model.ToolError{Tool: toolName, Err: fmt.Errorf("%s %s: no verdict (status %d); refusing to pass an unchecked document", d.File, d.Resource(), r.Status)}
	}
	for _, e := range r.ValidationErrors {
		out.ValidationErrors = append(out.ValidationErrors, struct {
			Path string `json:"path"`
			Msg  string `json:"msg"`
		}{e.Path, e.Msg})
	}
	return out, nil
}

// queue hands documents to the workers so that no two compile the same schema: the first
// document of a kind (apiVersion + kind, kubeconform's schema cache key) goes to one worker,
// which compiles its schema (tens of milliseconds for a Deployment), while the others take
// documents of kinds already compiled or not yet started. kubeconform's own workers would all
// miss the cache at once and compile it each.
type queue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	groups []*group
	left   int
	halt   bool
}

type group struct {
	docs  []int
	next  int
	state int // cold, compiling or warm
}

const (
	cold = iota
	compiling
	warm
)

func newQueue(p *Plan) *queue {
	q := &queue{}
	q.cond = sync.NewCond(&q.mu)
	byKind := map[string]*group{}
	for i, d := range p.Docs {
		if _, handed := p.texts[i]; !handed {
			continue
		}
		k := d.APIVersion + "\x00" + d.Kind
		g := byKind[k]
		if g == nil {
			g = &group{}
			byKind[k] = g
			q.groups = append(q.groups, g)
		}
		g.docs = append(g.docs, i)
		q.left++
	}
	return q
}

// take returns the next document to validate and a func to call once it is validated; ok is
// false when none is left.
func (q *queue) take() (i int, done func(), ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if q.left == 0 || q.halt {
			return 0, nil, false
		}
		var pick *group
		for _, g := range q.groups { // a compiled kind first, else one nobody has started
			if g.next < len(g.docs) && g.state == warm {
				pick = g
				break
			}
			if pick == nil && g.state == cold {
				pick = g
			}
		}
		if pick == nil { // only kinds being compiled are left: wait for one
			q.cond.Wait()
			continue
		}
		i = pick.docs[pick.next]
		pick.next++
		q.left--
		if pick.state == warm {
			return i, func() {}, true
		}
		pick.state = compiling
		return i, func() {
			q.mu.Lock()
			pick.state = warm
			q.mu.Unlock()
			q.cond.Broadcast()
		}, true
	}
}

// stop wakes every waiting worker to end (the context was cancelled).
func (q *queue) stop() {
	q.mu.Lock()
	q.halt = true
	q.mu.Unlock()
	q.cond.Broadcast()
}
