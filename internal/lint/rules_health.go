package lint

import "github.com/tollgate-dev/tollgate/internal/model"

func healthRules() []rule {
	return []rule{
		newRule("TG-DF-060", "no-healthcheck", model.SeverityInfo,
			"Without a HEALTHCHECK, plain Docker and Compose cannot tell a hung container from a healthy one (Kubernetes uses its own probes instead).",
			"Add `HEALTHCHECK CMD [\"/app\", \"healthcheck\"]` (or `HEALTHCHECK NONE` to say the orchestrator probes it).",
			"FROM alpine:3.20\nUSER 65532\nCMD [\"app\"]",
			checkHealthcheck),
	}
}

func checkHealthcheck(df *dockerfile, _ *Options) []hit {
	for _, s := range df.lineage() {
		for _, c := range s.commands {
			if c.name == "healthcheck" {
				return nil
			}
		}
	}
	return []hit{{line: df.final().line, msg: "the final stage has no HEALTHCHECK"}}
}
