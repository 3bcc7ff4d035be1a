package policy

import (
	"bytes"
	"strings"

	"gopkg.in/yaml.v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/tollgate-dev/tollgate/internal/manifest"
)

// A fix is the YAML to add to the document, rooted at the document itself, so a user can merge
// it as it stands: a pod-spec fragment is wrapped in the kind's path to its pod spec
// (spec.template.spec for a Deployment, spec.jobTemplate.spec.template.spec for a CronJob...).

// wrapPodSpecFix puts a pod-spec fragment (a map, or YAML text of one) under the document's pod
// spec path and renders it as YAML.
func wrapPodSpecFix(d manifest.Document, fragment any) string {
	if s, ok := fragment.(string); ok {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(s), &m); err != nil {
			return s
		}
		fragment = m
	}
	p, ok := podSpecPath(d)
	if !ok {
		return renderYAML(fragment)
	}
	wrapped := map[string]any{"spec": fragment}
	if d.Group() == "" && d.Kind == "Pod" {
		return renderYAML(wrapped)
	}
	for i := len(p) - 1; i >= 0; i-- {
		wrapped = map[string]any{p[i]: wrapped}
	}
	return renderYAML(wrapped)
}

// renderYAML renders a fix with two-space indentation, sorted keys, and no trailing newline.
func renderYAML(v any) string {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	_ = enc.Close()
	return strings.TrimRight(b.String(), "\n")
}

// containerFix lists, for each container list of the pod spec, the containers pick selects, with
// the given securityContext fragment: the concrete per-container part of a fix.
func containerFix(spec *corev1.PodSpec, sc map[string]any, pick func(*corev1.SecurityContext) bool) map[string]any {
	out := map[string]any{}
	add := func(field, name string, c *corev1.SecurityContext) {
		if !pick(c) {
			return
		}
		list, _ := out[field].([]any)
		out[field] = append(list, map[string]any{"name": name, "securityContext": sc})
	}
	for _, c := range spec.InitContainers {
		add("initContainers", c.Name, c.SecurityContext)
	}
	for _, c := range spec.Containers {
		add("containers", c.Name, c.SecurityContext)
	}
	for _, c := range spec.EphemeralContainers {
		add("ephemeralContainers", c.Name, c.SecurityContext)
	}
	return out
}

// podSecurityFix is the fix of one upstream check: a pod-spec fragment built from the pod, and
// a note for what no fragment can say (remove a field, pick another volume type).
type podSecurityFix struct {
	podSpec func(*corev1.PodSpec) map[string]any
	note    string
}

var podSecurityFixes = map[string]podSecurityFix{
	"allowPrivilegeEscalation": {podSpec: func(s *corev1.PodSpec) map[string]any {
		return containerFix(s, map[string]any{"allowPrivilegeEscalation": false}, func(c *corev1.SecurityContext) bool {
			return c == nil || c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation
		})
	}},
	"capabilities_restricted": {podSpec: func(s *corev1.PodSpec) map[string]any {
		return containerFix(s, map[string]any{"capabilities": map[string]any{"drop": []any{"ALL"}}}, func(c *corev1.SecurityContext) bool {
			return c == nil || c.Capabilities == nil || !hasCap(c.Capabilities.Drop, "ALL") || addsOtherThan(c.Capabilities.Add, "NET_BIND_SERVICE")
		})
	}, note: "capabilities.add may only hold NET_BIND_SERVICE at the restricted level"},
	"capabilities_baseline": {note: "remove from capabilities.add every capability outside the baseline set (AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT)"},
	"runAsNonRoot": {podSpec: func(*corev1.PodSpec) map[string]any {
		return map[string]any{"securityContext": map[string]any{"runAsNonRoot": true}}
	}, note: "and remove runAsNonRoot: false from the containers; the image must run as a non-zero UID"},
	"runAsUser": {podSpec: func(*corev1.PodSpec) map[string]any {
		return map[string]any{"securityContext": map[string]any{"runAsUser": 10001}}
	}, note: "and remove runAsUser: 0 from the containers"},
	"seccompProfile_restricted": {podSpec: func(*corev1.PodSpec) map[string]any {
		return map[string]any{"securityContext": map[string]any{"seccompProfile": map[string]any{"type": "RuntimeDefault"}}}
	}, note: "and remove seccompProfile type Unconfined from the containers"},
	"seccompProfile_baseline": {note: "remove seccompProfile type Unconfined (pod and containers); RuntimeDefault or Localhost are allowed"},
	"privileged": {podSpec: func(s *corev1.PodSpec) map[string]any {
		return containerFix(s, map[string]any{"privileged": false}, func(c *corev1.SecurityContext) bool {
			return c != nil && c.Privileged != nil && *c.Privileged
		})
	}},
	"hostNamespaces": {podSpec: func(s *corev1.PodSpec) map[string]any {
		m := map[string]any{}
		if s.HostNetwork {
			m["hostNetwork"] = false
		}
		if s.HostPID {
			m["hostPID"] = false
		}
		if s.HostIPC {
			m["hostIPC"] = false
		}
		return m
	}},
	"hostPathVolumes":            {note: "replace hostPath volumes with emptyDir, a persistentVolumeClaim, a configMap or a secret"},
	"hostPorts":                  {note: "remove hostPort from the container ports; expose the pod through a Service"},
	"hostProbesAndHostLifecycle": {note: "remove the host field from the probes' and lifecycle handlers' httpGet and tcpSocket"},
	"procMount": {podSpec: func(s *corev1.PodSpec) map[string]any {
		return containerFix(s, map[string]any{"procMount": "Default"}, func(c *corev1.SecurityContext) bool {
			return c != nil && c.ProcMount != nil && *c.ProcMount != corev1.DefaultProcMount
		})
	}},
	"procMount_restricted": {podSpec: func(s *corev1.PodSpec) map[string]any {
		return containerFix(s, map[string]any{"procMount": "Default"}, func(c *corev1.SecurityContext) bool {
			return c != nil && c.ProcMount != nil && *c.ProcMount != corev1.DefaultProcMount
		})
	}},
	"restrictedVolumes":  {note: "use only configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected and secret volumes"},
	"seLinuxOptions":     {note: "remove seLinuxOptions.user and .role, and set .type only to container_t, container_init_t, container_kvm_t or container_engine_t"},
	"sysctls":            {note: "set only the safe sysctls (kernel.shm_rmid_forced, net.ipv4.ip_local_port_range, net.ipv4.tcp_syncookies, net.ipv4.ping_group_range, net.ipv4.ip_unprivileged_port_start, net.ipv4.ip_local_reserved_ports, net.ipv4.tcp_keepalive_time, net.ipv4.tcp_fin_timeout, net.ipv4.tcp_keepalive_intvl, net.ipv4.tcp_keepalive_probes, net.ipv4.tcp_rmem, net.ipv4.tcp_wmem)"},
	"windowsHostProcess": {note: "remove securityContext.windowsOptions.hostProcess: true (pod and containers)"},
	"appArmorProfile":    {note: "remove AppArmor profiles of type Unconfined (securityContext.appArmorProfile and the container.apparmor.security.beta.kubernetes.io annotations)"},
}

func hasCap(cs []corev1.Capability, want string) bool {
	for _, c := range cs {
		if string(c) == want {
			return true
		}
	}
	return false
}

func addsOtherThan(cs []corev1.Capability, allowed string) bool {
	for _, c := range cs {
		if string(c) != allowed {
			return true
		}
	}
	return false
}
