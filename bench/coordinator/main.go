// Command coordinator measures Kiln's coordinator on loopback, as issue 4 asks: the
// pickup latency of a job with 1,000 runners long-polling, the throughput of trivial
// jobs through their whole lifecycle (claim, running, trace, success), and the
// coordinator's memory with 1,000 idle long-polling runners.
//
// The coordinator runs in a child process (this binary's "serve" mode, wired as
// `kiln server` is), so that its memory is measured alone; the runners are HTTP
// clients in this process speaking the runner API as gitlab-runner does.
//
//	go run ./bench/coordinator -scenario all                       # SQLite
//	go run ./bench/coordinator -scenario all -database "$KILN_TEST_POSTGRES_DSN"
//
// KILN_BENCH_CPUPROFILE=FILE writes the coordinator's CPU profile and
// KILN_BENCH_ALLOCPROFILE=FILE its allocation profile, -load-cpuprofile FILE the load
// generator's CPU profile.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		fs := flag.NewFlagSet("serve", flag.ExitOnError)
		var cfg serveConfig
		fs.StringVar(&cfg.data, "data", "", "data directory")
		fs.StringVar(&cfg.database, "database", "", "PostgreSQL URL")
		fs.StringVar(&cfg.schema, "schema", "", "PostgreSQL schema")
		fs.StringVar(&cfg.sync, "sqlite-synchronous", "full", "SQLite synchronous: full or normal")
		fs.StringVar(&cfg.listen, "listen", "127.0.0.1:0", "listen address")
		fs.DurationVar(&cfg.longPoll, "long-poll", 50*time.Second, "long poll")
		profile := fs.String("cpuprofile", os.Getenv("KILN_BENCH_CPUPROFILE"), "write the coordinator's CPU profile here")
		allocs := fs.String("allocprofile", os.Getenv("KILN_BENCH_ALLOCPROFILE"), "write the coordinator's allocation profile here on exit")
		fs.Parse(os.Args[2:])
		if *profile != "" {
			f, err := os.Create(*profile)
			if err == nil {
				pprof.StartCPUProfile(f)
				defer pprof.StopCPUProfile()
			}
		}
		if *allocs != "" {
			defer func() {
				if f, err := os.Create(*allocs); err == nil {
					pprof.Lookup("allocs").WriteTo(f, 0)
					f.Close()
				}
			}()
		}
		if err := serve(ctx, cfg); err != nil {
			fmt.Fprintln(os.Stderr, "serve:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.StringVar(&o.scenario, "scenario", "all", "latency, throughput, idle or all")
	flag.StringVar(&o.database, "database", "", "PostgreSQL URL (default: SQLite in a temporary directory)")
	flag.StringVar(&o.sqliteSync, "sqlite-synchronous", "full", "SQLite's synchronous setting: full (kiln server's) or normal")
	flag.IntVar(&o.runners, "runners", 1000, "long-polling runners (latency, idle)")
	flag.IntVar(&o.samples, "samples", 200, "jobs whose pickup latency is measured")
	flag.IntVar(&o.jobs, "jobs", 2000, "jobs run through their lifecycle (throughput)")
	flag.IntVar(&o.workers, "workers", 32, "concurrent runners running jobs (throughput)")
	flag.DurationVar(&o.settle, "settle", 10*time.Second, "how long idle runners poll before memory is read")
	loadProfile := flag.String("load-cpuprofile", "", "write the load generator's (the simulated runners') CPU profile here")
	flag.Parse()
	if *loadProfile != "" {
		f, err := os.Create(*loadProfile)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type options struct {
	scenario, database     string
	sqliteSync             string
	runners, samples, jobs int
	workers                int
	settle                 time.Duration
}

func run(ctx context.Context, o options) error {
	engine := "sqlite"
	if o.database != "" {
		engine = "postgres"
	}
	scenarios := map[string]func(context.Context, options, string) error{
		"latency": latency, "throughput": throughput, "idle": idle,
	}
	names := []string{o.scenario}
	if o.scenario == "all" {
		names = []string{"latency", "throughput", "idle"}
	}
	for _, name := range names {
		f, ok := scenarios[name]
		if !ok {
			return fmt.Errorf("unknown scenario %q (want latency, throughput, idle or all)", name)
		}
		if err := f(ctx, o, engine); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}
