// devops-info: a small stdlib-only HTTP service in the spirit of the seeds'
// devops-info-service, used as minbase's Go example and test service.
//
//	GET /health -> {"status":"healthy","timestamp":"RFC3339","uptime_seconds":N}
//	GET /       -> service, system and runtime information
//
// The port comes from PORT (default 8080); SIGTERM or SIGINT stops it
// gracefully (in-flight requests finish) and it exits 0.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

var started = time.Now()

func writeJSON(w http.ResponseWriter, code int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]interface{}{
		"status":         "healthy",
		"timestamp":      time.Now().UTC().Format(time.RFC3339),
		"uptime_seconds": int64(time.Since(started).Seconds()),
	})
}

func info(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "not found", "path": r.URL.Path})
		return
	}
	host, _ := os.Hostname()
	writeJSON(w, http.StatusOK, map[string]interface{}{
		"service": map[string]string{
			"name":        "devops-info-service",
			"version":     "1.0.0",
			"description": "DevOps course info service",
			"framework":   "net/http",
		},
		"system": map[string]interface{}{
			"hostname":     host,
			"platform":     runtime.GOOS,
			"architecture": runtime.GOARCH,
			"cpu_count":    runtime.NumCPU(),
			"go_version":   runtime.Version(),
		},
		"runtime": map[string]interface{}{
			"uptime_seconds": int64(time.Since(started).Seconds()),
			"current_time":   time.Now().UTC().Format(time.RFC3339),
			"timezone":       "UTC",
			"uid":            os.Getuid(),
			"gid":            os.Getgid(),
		},
		"request": map[string]string{
			"client_ip":  r.RemoteAddr,
			"user_agent": r.UserAgent(),
			"method":     r.Method,
			"path":       r.URL.Path,
		},
		"endpoints": []map[string]string{
			{"path": "/", "method": "GET", "description": "Service information"},
			{"path": "/health", "method": "GET", "description": "Health check"},
		},
	})
}

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health", health)
	mux.HandleFunc("/", info)
	srv := &http.Server{
		Addr:              ":" + port,
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	go func() {
		sig := <-stop
		log.Printf("received %v, shutting down", sig)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			log.Printf("shutdown: %v", err)
		}
		close(done)
	}()

	log.Printf("listening on :%s", port)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("listen: %v", err)
	}
	<-done
	log.Printf("stopped")
}
