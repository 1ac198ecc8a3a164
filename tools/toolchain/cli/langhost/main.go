// pulumi-language-nodejs for the offline toolchain (scripts/toolchain.sh).
//
// Why this exists: the upstream Node.js language host is its own Go module
// (github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3) and the
// module proxy reachable from this environment does not serve any version of it
// (every request answers 403 "This module version is not available"). The CLI
// itself (pkg/v3) and the SDK (sdk/v3) are served, so this small host is built
// against sdk/v3 at the CLI's version and implements the parts of the
// LanguageRuntime gRPC service the CLI uses for `preview`, `up`, `destroy`,
// `refresh`, policy packs (`--policy-pack`), `about` and `install`:
//
//   - Handshake, GetPluginInfo
//   - GetRequiredPlugins (packages with {"pulumi": {"resource": true}} reachable
//     from the program's package.json dependencies)
//   - Run            -> node @pulumi/pulumi/cmd/run
//   - RunPlugin      -> node @pulumi/pulumi/cmd/run-policy-pack (analyzers) or
//     node @pulumi/pulumi/cmd/run-plugin (other plugin kinds)
//   - About, GetProgramDependencies, InstallDependencies (npm install)
//
// Everything else answers Unimplemented, which the CLI treats as "older language
// host" and falls back from (GetRequiredPackages -> GetRequiredPlugins, etc.).
// Codegen (`pulumi convert`, `pulumi package gen-sdk`, `pulumi new` templates)
// is not supported.
//
// Runtime options read from Pulumi.yaml (`runtime.options`): typescript
// (default true), tsconfig, nodeargs. Other options are ignored.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/shlex"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// version is set at build time (-ldflags "-X main.version=3.259.0").
var version = "0.0.0-dev"

// Exit code @pulumi/pulumi uses after it has already printed an actionable
// message (nodeJSProcessExitedAfterLoggingUserActionableMessage).
const actionableExitCode = 32

func main() {
	var tracing string
	flag.StringVar(&tracing, "tracing", "", "Emit tracing to a Zipkin-compatible tracing endpoint")
	// Accepted for compatibility with older CLIs that passed runtime options as flags.
	flag.String("root", "", "ignored")
	flag.Bool("typescript", true, "ignored (use runtime.options.typescript)")
	flag.String("tsconfig", "", "ignored (use runtime.options.tsconfig)")
	flag.String("nodeargs", "", "ignored (use runtime.options.nodeargs)")
	flag.String("packagemanager", "", "ignored")
	flag.Parse()
	args := flag.Args()
	logging.InitLogging(false, 0, false)
	cmdutil.InitTracing("pulumi-language-nodejs", "pulumi-language-nodejs", tracing)

	var engineAddress string
	if len(args) > 0 {
		engineAddress = args[0]
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancelChannel := make(chan bool)
	go func() {
		<-ctx.Done()
		close(cancelChannel)
	}()
	if engineAddress != "" {
		if err := rpcutil.Healthcheck(ctx, engineAddress, 5*time.Minute, cancel); err != nil {
			cmdutil.Exit(fmt.Errorf("could not start health check host RPC server: %w", err))
		}
	}

	h := &host{engineAddress: engineAddress, tracing: tracing}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancelChannel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
		Options: rpcutil.TracingServerInterceptorOptions(nil),
	})
	if err != nil {
		cmdutil.Exit(fmt.Errorf("could not start language host RPC server: %w", err))
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		cmdutil.Exit(fmt.Errorf("language host RPC stopped serving: %w", err))
	}
}

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	mu            sync.Mutex
	engineAddress string
	tracing       string
}

func (h *host) engine() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.engineAddress
}

func (h *host) Handshake(
	ctx context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	if req.GetEngineAddress() != "" {
		h.mu.Lock()
		h.engineAddress = req.GetEngineAddress()
		h.mu.Unlock()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(ctx context.Context, _ *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

// ---------------------------------------------------------------------------
// Program information helpers

type runtimeOptions struct {
	typescript bool
	tsconfig   string
	nodeargs   []string
}

func parseOptions(info *pulumirpc.ProgramInfo) (runtimeOptions, error) {
	opts := runtimeOptions{typescript: true}
	if info == nil || info.GetOptions() == nil {
		return opts, nil
	}
	m := info.GetOptions().AsMap()
	if v, ok := m["typescript"]; ok {
		switch t := v.(type) {
		case bool:
			opts.typescript = t
		case string:
			opts.typescript = t != "false"
		default:
			return opts, fmt.Errorf("runtime option typescript must be a boolean, got %T", v)
		}
	}
	if v, ok := m["tsconfig"]; ok {
		s, ok := v.(string)
		if !ok {
			return opts, fmt.Errorf("runtime option tsconfig must be a string, got %T", v)
		}
		opts.tsconfig = s
	}
	if v, ok := m["nodeargs"]; ok {
		s, ok := v.(string)
		if !ok {
			return opts, fmt.Errorf("runtime option nodeargs must be a string, got %T", v)
		}
		parts, err := shlex.Split(s)
		if err != nil {
			return opts, fmt.Errorf("runtime option nodeargs: %w", err)
		}
		opts.nodeargs = parts
	}
	return opts, nil
}

func programDir(info *pulumirpc.ProgramInfo, fallback string) string {
	if info != nil && info.GetProgramDirectory() != "" {
		return info.GetProgramDirectory()
	}
	if fallback != "" {
		return fallback
	}
	wd, _ := os.Getwd()
	return wd
}

func nodeBinary() (string, error) {
	p, err := exec.LookPath("node")
	if err != nil {
		return "", errors.New("could not find `node` on PATH; install Node.js 20 or newer")
	}
	return p, nil
}

// resolveModule asks node where a module resolves from dir (node's own
// algorithm, so a node_modules in any parent directory, or a symlinked one, works).
func resolveModule(nodeBin, dir, module string) (string, error) {
	cmd := exec.Command(nodeBin, "-e", "process.stdout.write(require.resolve(process.argv[1]))", module)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("could not find %s from %s (is @pulumi/pulumi installed? run npm install): %v: %s",
			module, dir, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// ---------------------------------------------------------------------------
// Required plugins

type packageJSON struct {
	Name                 string            `json:"name"`
	Version              string            `json:"version"`
	Dependencies         map[string]string `json:"dependencies"`
	DevDependencies      map[string]string `json:"devDependencies"`
	OptionalDependencies map[string]string `json:"optionalDependencies"`
	Pulumi               *struct {
		Resource bool   `json:"resource"`
		Name     string `json:"name"`
		Version  string `json:"version"`
		Server   string `json:"server"`
	} `json:"pulumi"`
}

func readPackageJSON(path string) (*packageJSON, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var p packageJSON
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	return &p, nil
}

// findPackageDir resolves a dependency name the way node does: the nearest
// node_modules/<name> walking up from dir.
func findPackageDir(dir, name string) (string, bool) {
	for d := dir; ; {
		cand := filepath.Join(d, "node_modules", name)
		if st, err := os.Stat(filepath.Join(cand, "package.json")); err == nil && !st.IsDir() {
			return cand, true
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", false
		}
		d = parent
	}
}

func pluginFromPackage(p *packageJSON) (*pulumirpc.PluginDependency, bool) {
	if p.Pulumi == nil || !p.Pulumi.Resource {
		return nil, false
	}
	name := p.Pulumi.Name
	if name == "" {
		name = p.Name
		if strings.HasPrefix(name, "@pulumi/") {
			name = strings.TrimPrefix(name, "@pulumi/")
		} else {
			name = strings.TrimPrefix(name, "@")
		}
	}
	v := p.Pulumi.Version
	if v == "" {
		v = p.Version
	}
	if v != "" && !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	return &pulumirpc.PluginDependency{Name: name, Kind: "resource", Version: v, Server: p.Pulumi.Server}, true
}

// requiredPlugins walks the program's dependencies (and theirs) and collects
// every package that declares a resource plugin.
func requiredPlugins(dir string) ([]*pulumirpc.PluginDependency, error) {
	root, err := readPackageJSON(filepath.Join(dir, "package.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	type item struct{ from, name string }
	var queue []item
	push := func(from string, deps ...map[string]string) {
		for _, m := range deps {
			names := make([]string, 0, len(m))
			for n := range m {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				queue = append(queue, item{from, n})
			}
		}
	}
	push(dir, root.Dependencies, root.DevDependencies, root.OptionalDependencies)
	seen := map[string]bool{}
	found := map[string]*pulumirpc.PluginDependency{}
	var order []string
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		pdir, ok := findPackageDir(it.from, it.name)
		if !ok {
			continue // not installed (optional, or not yet installed): nothing to report
		}
		real, err := filepath.EvalSymlinks(pdir)
		if err != nil {
			real = pdir
		}
		if seen[real] {
			continue
		}
		seen[real] = true
		p, err := readPackageJSON(filepath.Join(pdir, "package.json"))
		if err != nil {
			return nil, err
		}
		if dep, ok := pluginFromPackage(p); ok {
			key := dep.Name + "@" + dep.Version
			if _, dup := found[key]; !dup {
				found[key] = dep
				order = append(order, key)
			}
		}
		push(pdir, p.Dependencies, p.OptionalDependencies)
	}
	out := make([]*pulumirpc.PluginDependency, 0, len(order))
	for _, k := range order {
		out = append(out, found[k])
	}
	return out, nil
}

func (h *host) GetRequiredPlugins(
	ctx context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	plugins, err := requiredPlugins(programDir(req.GetInfo(), req.GetPwd()))
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: plugins}, nil
}

// ---------------------------------------------------------------------------
// Run

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	dir := programDir(info, req.GetPwd())
	opts, err := parseOptions(info)
	if err != nil {
		return nil, err
	}
	nodeBin, err := nodeBinary()
	if err != nil {
		return nil, err
	}
	runPath, err := resolveModule(nodeBin, dir, "@pulumi/pulumi/cmd/run")
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}

	entry := "."
	if info != nil && info.GetEntryPoint() != "" {
		entry = info.GetEntryPoint()
	} else if req.GetProgram() != "" {
		entry = req.GetProgram()
	}
	pwd := req.GetPwd()
	if pwd == "" {
		pwd = dir
	}

	args := append([]string{}, opts.nodeargs...)
	args = append(args, runPath)
	add := func(k, v string) {
		if v != "" {
			args = append(args, "--"+k+"="+v)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", h.engine())
	add("organization", req.GetOrganization())
	add("project", req.GetProject())
	add("stack", req.GetStack())
	add("pwd", pwd)
	if info != nil {
		add("root-directory", info.GetRootDirectory())
	}
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	if req.GetQueryMode() {
		args = append(args, "--query-mode")
	}
	if req.GetParallel() != 0 {
		add("parallel", fmt.Sprint(req.GetParallel()))
	}
	add("tracing", h.tracing)
	args = append(args, entry)
	args = append(args, req.GetArgs()...)

	cfg := req.GetConfig()
	if cfg == nil {
		cfg = map[string]string{}
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("serializing config: %w", err)
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, fmt.Errorf("serializing config secret keys: %w", err)
	}

	env := os.Environ()
	env = append(env, "PULUMI_CONFIG="+string(cfgJSON), "PULUMI_CONFIG_SECRET_KEYS="+string(secretJSON))
	if opts.typescript {
		env = append(env, "PULUMI_NODEJS_TYPESCRIPT=true")
	} else {
		env = append(env, "PULUMI_NODEJS_TYPESCRIPT=false")
	}
	if opts.tsconfig != "" {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+opts.tsconfig)
	}

	logging.V(5).Infof("pulumi-language-nodejs: running %s %s", nodeBin, strings.Join(args, " "))
	cmd := exec.Command(nodeBin, args...)
	cmd.Dir = pwd
	cmd.Env = env
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not start node: %v", err)}, nil
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGINT)
		case <-done:
		}
	}()
	err = cmd.Wait()
	close(done)
	if err == nil {
		return &pulumirpc.RunResponse{}, nil
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok {
			switch {
			case ws.Signaled():
				return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited due to signal %v", ws.Signal())}, nil
			case ws.ExitStatus() == actionableExitCode:
				return &pulumirpc.RunResponse{Bail: true}, nil
			default:
				return &pulumirpc.RunResponse{
					Error: fmt.Sprintf("Program exited with non-zero exit code: %d", ws.ExitStatus()),
				}, nil
			}
		}
	}
	return &pulumirpc.RunResponse{Error: fmt.Sprintf("Problem executing program: %v", err)}, nil
}

// ---------------------------------------------------------------------------
// RunPlugin (policy packs and Node.js plugins)

type streamWriter struct {
	mu     *sync.Mutex
	server pulumirpc.LanguageRuntime_RunPluginServer
	stderr bool
}

func (w streamWriter) Write(p []byte) (int, error) {
	buf := append([]byte(nil), p...)
	var msg *pulumirpc.RunPluginResponse
	if w.stderr {
		msg = &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: buf}}
	} else {
		msg = &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: buf}}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.server.Send(msg); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (h *host) RunPlugin(req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer) error {
	info := req.GetInfo()
	dir := programDir(info, req.GetProgram())
	opts, err := parseOptions(info)
	if err != nil {
		return err
	}
	nodeBin, err := nodeBinary()
	if err != nil {
		return err
	}

	args := append([]string{}, opts.nodeargs...)
	if req.GetKind() == "analyzer" {
		// run-policy-pack <engine-address> <program> [args...]
		runPath, err := resolveModule(nodeBin, dir, "@pulumi/pulumi/cmd/run-policy-pack")
		if err != nil {
			return err
		}
		rest := req.GetArgs()
		engine := h.engine()
		if len(rest) > 0 {
			engine, rest = rest[0], rest[1:]
		}
		args = append(args, runPath, engine, dir)
		args = append(args, rest...)
	} else {
		// run-plugin <program> [args...]
		runPath, err := resolveModule(nodeBin, dir, "@pulumi/pulumi/cmd/run-plugin")
		if err != nil {
			return err
		}
		args = append(args, runPath, dir)
		args = append(args, req.GetArgs()...)
	}

	env := req.GetEnv()
	if len(env) == 0 {
		env = os.Environ()
	}
	if opts.tsconfig != "" {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+opts.tsconfig)
	}

	var mu sync.Mutex
	cmd := exec.CommandContext(server.Context(), nodeBin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = streamWriter{mu: &mu, server: server}
	cmd.Stderr = streamWriter{mu: &mu, server: server, stderr: true}
	logging.V(5).Infof("pulumi-language-nodejs: running plugin %s %s", nodeBin, strings.Join(args, " "))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("could not start node: %w", err)
	}
	code := int32(0)
	if err := cmd.Wait(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return err
		}
		code = int32(exitErr.ExitCode())
	}
	mu.Lock()
	defer mu.Unlock()
	return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: code}})
}

// ---------------------------------------------------------------------------
// About, dependencies, install

func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	nodeBin, err := nodeBinary()
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(nodeBin, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("running node --version: %w", err)
	}
	return &pulumirpc.AboutResponse{
		Executable: nodeBin,
		Version:    strings.TrimPrefix(strings.TrimSpace(string(out)), "v"),
		Metadata:   map[string]string{"languageHost": "triton-platform offline pulumi-language-nodejs " + version},
	}, nil
}

func (h *host) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	dir := programDir(req.GetInfo(), req.GetPwd())
	root, err := readPackageJSON(filepath.Join(dir, "package.json"))
	if err != nil {
		return nil, fmt.Errorf("reading package.json: %w", err)
	}
	names := map[string]bool{}
	for _, m := range []map[string]string{root.Dependencies, root.DevDependencies, root.OptionalDependencies} {
		for n := range m {
			names[n] = true
		}
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	var deps []*pulumirpc.DependencyInfo
	for _, n := range sorted {
		pdir, ok := findPackageDir(dir, n)
		if !ok {
			continue
		}
		p, err := readPackageJSON(filepath.Join(pdir, "package.json"))
		if err != nil {
			continue
		}
		deps = append(deps, &pulumirpc.DependencyInfo{Name: n, Version: p.Version})
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

type installWriter struct {
	mu     *sync.Mutex
	server pulumirpc.LanguageRuntime_InstallDependenciesServer
	stderr bool
}

func (w installWriter) Write(p []byte) (int, error) {
	buf := append([]byte(nil), p...)
	msg := &pulumirpc.InstallDependenciesResponse{Stdout: buf}
	if w.stderr {
		msg = &pulumirpc.InstallDependenciesResponse{Stderr: buf}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.server.Send(msg); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (h *host) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	dir := req.GetDirectory()
	if dir == "" {
		dir = programDir(req.GetInfo(), "")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return errors.New("could not find `npm` on PATH")
	}
	var mu sync.Mutex
	cmd := exec.CommandContext(server.Context(), npm, "install")
	cmd.Dir = dir
	cmd.Stdout = installWriter{mu: &mu, server: server}
	cmd.Stderr = installWriter{mu: &mu, server: server, stderr: true}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("npm install in %s failed: %w", dir, err)
	}
	return nil
}
