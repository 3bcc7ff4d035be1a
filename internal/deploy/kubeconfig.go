package deploy

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/tollgate-dev/tollgate/internal/model"
)

// Target names the cluster to deploy to.
type Target struct {
	// Kubeconfig is a kubeconfig file, or several separated like $KUBECONFIG.
	Kubeconfig string
	// Data is a kubeconfig's contents (from a Dagger secret); it wins over Kubeconfig. It is
	// held in memory only: never written to disk, never passed to a process.
	Data []byte
	// Context in the kubeconfig; "" means its current context.
	Context string
	// Namespace for objects that name none; "" means the context's namespace, else "default".
	Namespace string
}

// dataName names an in-memory kubeconfig in messages.
const dataName = "kubeconfig (secret)"

// Cluster is a resolved target: how to reach the API server and what must never be printed.
type Cluster struct {
	Config    *rest.Config
	Namespace string
	// Host is the API server's URL without credentials, for messages.
	Host string
	// Source is the kubeconfig file (or dataName), for messages.
	Source string
	redact *redactor
}

// Resolve reads the kubeconfig and picks the context. Anything wrong with it (unreadable file,
// YAML that does not parse, unknown context, no cluster, an exec or auth-provider plugin) is a
// *model.InputError naming the file (and line where the parser gives one); the messages never
// quote the kubeconfig's contents.
func Resolve(t Target) (*Cluster, error) {
	var (
		raw    *clientcmdapi.Config
		source string
	)
	switch {
	case len(t.Data) > 0:
		source = dataName
		cfg, err := clientcmd.Load(t.Data)
		if err != nil {
			return nil, parseError(source, err)
		}
		raw = cfg
	case t.Kubeconfig != "":
		paths := filepath.SplitList(t.Kubeconfig)
		source = paths[0]
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				var pe *os.PathError
				if errors.As(err, &pe) {
					err = fmt.Errorf("%s: %w", pe.Op, pe.Err)
				}
				return nil, &model.InputError{File: p, Err: fmt.Errorf("read kubeconfig: %w", err)}
			}
			if _, err := clientcmd.Load(b); err != nil {
				return nil, parseError(p, err)
			}
		}
		// The loading rules merge several files and resolve relative certificate paths against
		// the file that names them, as kubectl does.
		cfg, err := (&clientcmd.ClientConfigLoadingRules{Precedence: paths}).Load()
		if err != nil {
			return nil, parseError(source, err)
		}
		raw = cfg
	default:
		return nil, &model.InputError{Err: errors.New("no kubeconfig: set deploy.kubeconfig, --kubeconfig or KUBECONFIG")}
	}
	red := newRedactor(raw)
	if len(raw.Clusters) == 0 {
		return nil, &model.InputError{File: source, Err: errors.New("kubeconfig names no cluster (is it a kubeconfig file?)")}
	}
	name := t.Context
	if name == "" {
		name = raw.CurrentContext
	}
	if kc, ok := raw.Contexts[name]; ok {
		if a, ok := raw.AuthInfos[kc.AuthInfo]; ok && (a.Exec != nil || a.AuthProvider != nil) {
			return nil, &model.InputError{File: source, Err: fmt.Errorf("kubeconfig: user %q of context %q runs a credential plugin (exec or auth-provider); "+
				"the deploy stage starts no processes: use a token or client certificate (e.g. a ServiceAccount token) instead", kc.AuthInfo, name)}
		}
	}
	cc := clientcmd.NewNonInteractiveClientConfig(*raw, t.Context, &clientcmd.ConfigOverrides{}, nil)
	rc, err := cc.ClientConfig()
	if err != nil {
		return nil, &model.InputError{File: source, Err: fmt.Errorf("kubeconfig: %s", red.clean(err.Error()))}
	}
	ns := t.Namespace
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil || ns == "" {
			ns = "default"
		}
	}
	return &Cluster{Config: rc, Namespace: ns, Host: redactURL(rc.Host), Source: source, redact: red}, nil
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// parseError turns a kubeconfig decoding error into an input error. Decoder messages may quote the
// offending text, which may be a credential: only the parser's own wording outside quotes is kept.
func parseError(source string, err error) error {
	msg := strings.SplitN(err.Error(), "\n", 2)[0]
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
	}
	msg = quoted.ReplaceAllString(msg, `"…"`)
	if source != dataName {
		msg = strings.ReplaceAll(msg, source, "")
	}
	return &model.InputError{File: source, Line: line, Err: fmt.Errorf("kubeconfig does not parse: %s", strings.TrimSpace(msg))}
}

var quoted = regexp.MustCompile(`"[^"]*"|'[^']*'|\x60[^\x60]*\x60`)

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable server URL)"
	}
	return u.Redacted()
}

// redactor removes a kubeconfig's secrets from any text before it leaves the stage: a last line
// of defence, since neither client-go nor the API server is expected to echo them.
type redactor struct{ secrets []string }

func newRedactor(c *clientcmdapi.Config) *redactor {
	r := &redactor{}
	add := func(s string) {
		if len(s) >= 6 { // short strings would redact ordinary words
			r.secrets = append(r.secrets, s)
		}
	}
	for _, a := range c.AuthInfos {
		add(a.Token)
		add(a.Password)
		add(string(a.ClientKeyData))
		add(string(a.ClientCertificateData))
	}
	for _, cl := range c.Clusters {
		if u, err := url.Parse(cl.Server); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok {
				add(p)
			}
		}
	}
	return r
}

func (r *redactor) clean(s string) string {
	if r == nil {
		return s
	}
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, "[redacted]")
	}
	return s
}
