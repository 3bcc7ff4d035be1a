package lint

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/model"
)

var (
	segmentSplitRe = regexp.MustCompile(`&&|\|\||;|\||\n`)
	aptInstallRe   = regexp.MustCompile(`\bapt(?:-get)?\s+(?:-\S+\s+)*install\b`)
	aptNoRecRe     = regexp.MustCompile(`--no-install-recommends|APT::Install-Recommends=(?:false|0)`)
	aptCleanRe     = regexp.MustCompile(`\brm\s+(?:-\S+\s+)*[^;&|]*/var/lib/apt/lists`)
	apkAddRe       = regexp.MustCompile(`\bapk\s+(?:-\S+\s+)*add\b`)
	apkCleanRe     = regexp.MustCompile(`\brm\s+(?:-\S+\s+)*[^;&|]*/var/cache/apk`)
	yumInstallRe   = regexp.MustCompile(`\b(yum|dnf|microdnf|tdnf)\s+(?:-\S+\s+)*(?:install|groupinstall|update|upgrade)\b`)
	yumCleanRe     = regexp.MustCompile(`\b(?:yum|dnf|microdnf|tdnf)\s+(?:-\S+\s+)*clean\s+all\b|\brm\s+(?:-\S+\s+)*[^;&|]*/var/cache/(?:yum|dnf)`)
	mountFlagRe    = regexp.MustCompile(`--mount=(\S+)`)
	aptUpdateRe    = regexp.MustCompile(`\bapt(?:-get)?\s+(?:(?:-\S+|\S*::\S*)\s+)*update\b`)
	aptUseIndexRe  = regexp.MustCompile(`\bapt(?:-get)?\s+(?:(?:-\S+|\S*::\S*)\s+)*(?:install|upgrade|dist-upgrade|full-upgrade|build-dep|source|satisfy|download)\b`)
)

// Package manager rules keep the shipped image small and its contents deliberate; they look
// at the final stage's lineage only (a builder's cache never ships).
func packageRules() []rule {
	return []rule{
		newRule("TG-DF-031", "apt-install-recommends", model.SeverityLow,
			"apt-get install without --no-install-recommends pulls in packages nobody asked for, growing the image and its attack surface.",
			"Use `apt-get install -y --no-install-recommends <packages>`.",
			"FROM debian:12\nRUN apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*",
			checkSegments(aptInstallRe, func(seg, _ string, _ []string) string {
				if aptNoRecRe.MatchString(seg) {
					return ""
				}
				return "apt-get install without --no-install-recommends"
			})),
		newRule("TG-DF-032", "apt-lists-not-removed", model.SeverityLow,
			"apt package lists left in a layer add tens of megabytes and stale metadata to the image.",
			"End the same RUN with `&& rm -rf /var/lib/apt/lists/*`, or use a cache mount (`RUN --mount=type=cache,target=/var/lib/apt ...`).",
			"FROM debian:12\nRUN apt-get update && apt-get install -y --no-install-recommends curl",
			checkSegments(aptInstallRe, func(_, all string, mounts []string) string {
				if aptCleanRe.MatchString(all) || cacheMounted(mounts, "/var/lib/apt") {
					return ""
				}
				return "apt-get install without removing /var/lib/apt/lists in the same RUN"
			})),
		newRule("TG-DF-033", "apk-no-cache", model.SeverityLow,
			"apk add without --no-cache leaves the package index in the image.",
			"Use `apk add --no-cache <packages>`.",
			"FROM alpine:3.20\nRUN apk update && apk add curl",
			checkSegments(apkAddRe, func(seg, all string, mounts []string) string {
				if strings.Contains(seg, "--no-cache") || apkCleanRe.MatchString(all) || cacheMounted(mounts, "/var/cache/apk") {
					return ""
				}
				return "apk add without --no-cache"
			})),
		newRule("TG-DF-034", "yum-no-clean", model.SeverityLow,
			"yum/dnf caches left in a layer bloat the image with metadata and downloaded packages.",
			"End the same RUN with `&& yum clean all` (or `dnf clean all`, `rm -rf /var/cache/yum`).",
			"FROM rockylinux:9\nRUN yum install -y httpd",
			checkSegments(yumInstallRe, func(seg, all string, mounts []string) string {
				if yumCleanRe.MatchString(all) || cacheMounted(mounts, "/var/cache/yum") || cacheMounted(mounts, "/var/cache/dnf") {
					return ""
				}
				return fmt.Sprintf("%q without cleaning the package cache in the same RUN", strings.Join(strings.Fields(yumInstallRe.FindString(seg)), " "))
			})),
		newRule("TG-DF-035", "apt-update-alone", model.SeverityLow,
			"`RUN apt-get update` in a layer of its own is cached, so a later `RUN apt-get install` reuses a stale package index: it installs outdated (unpatched) versions, or fails once the mirror has moved on. "+
				"Unlike TG-DF-031..034 it applies to every stage and to ONBUILD triggers, since a builder with outdated packages builds with them.",
			"Update and install in one RUN: `RUN apt-get update && apt-get install -y --no-install-recommends <packages> && rm -rf /var/lib/apt/lists/*`.",
			"FROM debian:12\nRUN apt-get update\nRUN apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*",
			checkAptUpdateAlone),
	}
}

// checkAptUpdateAlone looks at every stage (a builder that installs from a stale index builds
// with outdated tools) and at ONBUILD RUN triggers.
func checkAptUpdateAlone(df *dockerfile, _ *Options) []hit {
	return eachRun(df, func(c command, sc script) []hit {
		loc := aptUpdateRe.FindStringIndex(sc.text)
		if loc == nil || aptUseIndexRe.MatchString(sc.text) {
			return nil
		}
		return []hit{{line: sc.lineAt(loc[0]), anchor: c.start,
			msg: fmt.Sprintf("%s updates the apt package index without installing anything in the same RUN; the layer is cached, so later installs use a stale index%s", c.label(), c.note())}}
	})
}

// checkSegments runs msg on every shell command (split on && || ; | and newlines) of the RUN
// instructions in the final lineage that matches re. msg gets the segment, the whole RUN
// and its --mount flags.
func checkSegments(re *regexp.Regexp, msg func(seg, all string, mounts []string) string) func(*dockerfile, *Options) []hit {
	return func(df *dockerfile, _ *Options) []hit {
		var hs []hit
		for _, s := range df.lineage() {
			for _, c := range s.commands {
				if c.name != "run" {
					continue
				}
				sc := runScript(df, c)
				var mounts []string
				for _, m := range mountFlagRe.FindAllStringSubmatch(sc.text, -1) {
					mounts = append(mounts, m[1])
				}
				off := 0
				for _, seg := range segmentSplitRe.Split(sc.text, -1) {
					at := strings.Index(sc.text[off:], seg) + off
					off = at + len(seg)
					loc := re.FindStringIndex(seg)
					if loc == nil {
						continue
					}
					if m := msg(seg, sc.text, mounts); m != "" {
						hs = append(hs, hit{line: sc.lineAt(at + loc[0]), anchor: c.start, msg: m})
					}
				}
			}
		}
		return hs
	}
}

// cacheMounted reports whether a --mount=type=cache flag targets dir or a path under it.
func cacheMounted(mounts []string, dir string) bool {
	for _, m := range mounts {
		if !strings.Contains(m, "type=cache") {
			continue
		}
		for _, kv := range strings.Split(m, ",") {
			k, v, _ := strings.Cut(kv, "=")
			if (k == "target" || k == "dst" || k == "destination") && (v == dir || strings.HasPrefix(v, dir+"/") || strings.HasPrefix(dir, strings.TrimSuffix(v, "/")+"/")) {
				return true
			}
		}
	}
	return false
}
