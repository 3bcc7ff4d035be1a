// Package pipeline runs stages: independent ones in parallel, dependent ones after what they
// need, each result passed through the gate.
package pipeline

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-dev/tollgate/internal/gate"
	"github.com/tollgate-dev/tollgate/internal/model"
	"github.com/tollgate-dev/tollgate/internal/resultcache"
	"github.com/tollgate-dev/tollgate/internal/stage"
)

// Event reports stage progress to a view.
type Event struct {
	Stage  string
	Kind   EventKind
	Result *model.StageResult // on EventDone
	Msg    string             // on EventInfo
}

// EventKind says what happened.
type EventKind int

// Event kinds.
const (
	EventStart EventKind = iota
	EventInfo
	EventDone
)

// Run executes the stages, in parallel where Needs allows, and returns them in the given order.
// Stages whose needs ended in an error are skipped; a skipped need is like one not selected. onEvent may be nil; it is called serially.
func Run(ctx context.Context, env *stage.Env, stages []stage.Stage, onEvent func(Event)) *model.Run {
	var mu sync.Mutex
	emit := func(e Event) {
		if onEvent != nil {
			mu.Lock()
			defer mu.Unlock()
			onEvent(e)
		}
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	inner := *env
	if inner.Shared == nil {
		inner.Shared = &stage.Shared{}
	}
	inner.Progress = func(stage, msg string) { emit(Event{Stage: stage, Kind: EventInfo, Msg: msg}) }
	inner.Selected = nil
	for _, s := range stages {
		inner.Selected = append(inner.Selected, s.Name)
	}

	run := &model.Run{Started: env.Now(), Stages: make([]*model.StageResult, len(stages))}
	inner.Started = run.Started
	done := make(map[string]chan struct{}, len(stages))
	results := make(map[string]*model.StageResult, len(stages))
	var rmu sync.Mutex
	for _, s := range stages {
		done[s.Name] = make(chan struct{})
	}
	inner.Results = func() []*model.StageResult {
		rmu.Lock()
		defer rmu.Unlock()
		var out []*model.StageResult
		for _, s := range stages {
			if r, ok := results[s.Name]; ok {
				out = append(out, r)
			}
		}
		return out
	}
	var wg sync.WaitGroup
	for i, s := range stages {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[s.Name])
			var res *model.StageResult
			if s.AfterGates {
				res = waitForGates(stages, done, results, &rmu, s)
			}
			for _, n := range s.Needs {
				ch, ok := done[n]
				if !ok {
					continue // dependency not selected: the stage runs on its own inputs
				}
				<-ch
				rmu.Lock()
				dep := results[n]
				rmu.Unlock()
				// A dependency that was skipped (e.g. a build that is not configured) produced
				// nothing: the stage runs on its own inputs, as if it had not been selected. One
				// that errored or failed its gate (a verify that refused the image) stops it.
				switch {
				case res != nil:
				case dep.Status == model.StatusError:
					res = &model.StageResult{Stage: s.Name, Status: model.StatusSkipped, Tool: s.Tool, Findings: []model.Finding{},
						Error: fmt.Sprintf("skipped: stage %s did not complete", n)}
				case dep.Status == model.StatusFail:
					res = &model.StageResult{Stage: s.Name, Status: model.StatusSkipped, Tool: s.Tool, Findings: []model.Finding{},
						Error: fmt.Sprintf("skipped: stage %s did not pass its gate", n)}
				}
			}
			if res == nil {
				emit(Event{Stage: s.Name, Kind: EventStart})
				res = runOne(ctx, &inner, s)
			}
			rmu.Lock()
			results[s.Name] = res
			rmu.Unlock()
			run.Stages[i] = res
			emit(Event{Stage: s.Name, Kind: EventDone, Result: res})
		}()
	}
	wg.Wait()
	run.Duration = env.Now().Sub(run.Started)
	return run
}

// waitForGates blocks until every selected gate stage (one without AfterGates) has finished and
// returns a skipped result for s unless all of them passed or were skipped.
func waitForGates(stages []stage.Stage, done map[string]chan struct{}, results map[string]*model.StageResult, rmu *sync.Mutex, s stage.Stage) *model.StageResult {
	var failed []string
	for _, g := range stages {
		if g.AfterGates {
			continue
		}
		<-done[g.Name]
		rmu.Lock()
		r := results[g.Name]
		rmu.Unlock()
		if r.Status == model.StatusFail || r.Status == model.StatusError {
			failed = append(failed, g.Name+" "+string(r.Status))
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &model.StageResult{Stage: s.Name, Status: model.StatusSkipped, Tool: s.Tool, Findings: []model.Finding{},
		Error: "skipped: gates did not pass (" + strings.Join(failed, ", ") + ")"}
}

func runOne(ctx context.Context, env *stage.Env, s stage.Stage) (res *model.StageResult) {
	start := time.Now()
	defer func() {
		// A panic in a stage is a tool/infrastructure error: fail closed, keep the other stages.
		if p := recover(); p != nil {
			res = model.ErrorResult(s.Name, s.Tool, fmt.Errorf("internal error: %v", p))
		}
		res.Duration = time.Since(start)
	}()
	key := cacheKey(ctx, env, s)
	if env.Changed != nil {
		if r := unchangedResult(env, s, key); r != nil {
			return r
		}
	}
	if r, ok := env.Cache.Get(key, env.OutDir); ok {
		env.Progress(s.Name, "result from the cache (key "+key.Sum()[:12]+")")
		gate.Apply(r, env.Config, env.Now())
		return r
	}
	r, err := s.Run(ctx, env)
	if err != nil {
		tool := s.Tool
		if r != nil && r.Tool.Name != "" {
			tool = r.Tool
		}
		return model.ErrorResult(s.Name, tool, err)
	}
	if r.Stage == "" {
		r.Stage = s.Name
	}
	if r.Findings == nil {
		r.Findings = []model.Finding{}
	}
	store(ctx, env, s, key, r)
	gate.Apply(r, env.Config, env.Now())
	return r
}

// cacheKey computes the stage's result-cache key, nil when there is no cache or the stage has no
// key. A key function that fails or panics only costs the cache: the stage runs.
func cacheKey(ctx context.Context, env *stage.Env, s stage.Stage) (key *resultcache.Key) {
	if (env.Cache == nil && env.Changed == nil) || s.CacheKey == nil {
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			env.Progress(s.Name, fmt.Sprintf("not cached: cache key failed: %v", p))
			key = nil
		}
	}()
	k, err := s.CacheKey(ctx, env)
	if err != nil {
		env.Progress(s.Name, "not cached: "+err.Error())
		return nil
	}
	return k
}

// store keeps a raw result for later runs. The key is computed again after the run and must
// match the one computed before (an input edited while the stage ran must not be stored under
// either version); a key that was only waiting for the stage to install its tool or fetch its
// data is taken as computed after the run.
func store(ctx context.Context, env *stage.Env, s stage.Stage, before *resultcache.Key, r *model.StageResult) {
	if env.Cache == nil || before == nil || !resultcache.Storable(r) {
		return
	}
	if !before.Cacheable() && !before.IsPending() {
		env.Progress(s.Name, "not cached: "+before.Reason())
		return
	}
	after := cacheKey(ctx, env, s)
	if after == nil || !after.Cacheable() || (before.Cacheable() && after.Sum() != before.Sum()) {
		env.Progress(s.Name, "not cached: inputs changed while the stage ran")
		return
	}
	if err := env.Cache.Put(after, r, env.OutDir); err != nil {
		env.Progress(s.Name, "not cached: "+err.Error())
	}
}

// unchangedResult decides a stage under `--changed REV`: stages without a cache key (build and
// release stages) are skipped, since --changed only checks; a stage whose input files did not
// change since REV is served from the cache, or skipped when the cache has nothing for it. It
// returns nil when the stage should run as usual (its inputs changed, or it checks an image,
// which git cannot see: image stages go by the image's digest every time).
func unchangedResult(env *stage.Env, s stage.Stage, key *resultcache.Key) *model.StageResult {
	skipped := func(why string) *model.StageResult {
		return &model.StageResult{Stage: s.Name, Status: model.StatusSkipped, Tool: s.Tool, Findings: []model.Finding{}, Error: why}
	}
	switch {
	case s.CacheKey == nil:
		return skipped("skipped: --changed only checks (build and release stages run without it)")
	case key == nil || key.IsExternal():
		return nil
	}
	if why := env.Changed.Changes(key.Files(), key.Trees()); why != "" {
		env.Progress(s.Name, "changed since "+env.Changed.Rev+": "+why)
		return nil
	}
	if r, ok := env.Cache.Get(key, env.OutDir); ok {
		env.Progress(s.Name, "unchanged since "+env.Changed.Rev+": result from the cache")
		gate.Apply(r, env.Config, env.Now())
		return r
	}
	return skipped("skipped: no input changed since " + env.Changed.Rev + " and the cache holds no result for them (run without --changed to check)")
}
