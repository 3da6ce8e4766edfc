// grpc-health: a gRPC server that serves only grpc-go's own health service
// (google.golang.org/grpc/health), for minbase-init's gRPC probe tests.
//
//	grpc-health -addr 127.0.0.1:PORT [-status SERVING|NOT_SERVING]
//	            [-service NAME=SERVING|NOT_SERVING]...
//
// -status sets the overall health (service ""); each -service sets a named
// service's.  A name never set answers NOT_FOUND, as grpc-go does.  Built in
// GOPATH mode against Debian's golang-google-grpc-dev (see the test).
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

type services []string

func (s *services) String() string     { return strings.Join(*s, ",") }
func (s *services) Set(v string) error { *s = append(*s, v); return nil }

func status(name string) (healthpb.HealthCheckResponse_ServingStatus, error) {
	v, ok := healthpb.HealthCheckResponse_ServingStatus_value[name]
	if !ok {
		return 0, fmt.Errorf("unknown status %q: use SERVING or NOT_SERVING", name)
	}
	return healthpb.HealthCheckResponse_ServingStatus(v), nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:50051", "listen address")
	overall := flag.String("status", "SERVING", "overall status")
	var named services
	flag.Var(&named, "service", "NAME=STATUS (repeatable)")
	flag.Parse()

	hs := health.NewServer()
	st, err := status(*overall)
	if err != nil {
		log.Fatal(err)
	}
	hs.SetServingStatus("", st)
	for _, n := range named {
		kv := strings.SplitN(n, "=", 2)
		if len(kv) != 2 {
			log.Fatalf("-service %q: use NAME=STATUS", n)
		}
		if st, err = status(kv[1]); err != nil {
			log.Fatal(err)
		}
		hs.SetServingStatus(kv[0], st)
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	fmt.Fprintf(os.Stderr, "grpc-health: listening on %s\n", lis.Addr())
	log.Fatal(srv.Serve(lis))
}
