// Command vcsim serves govmomi's vCenter simulator on a loopback address for the VMware
// provider's tests. Debian ships the simulator library but no main; this is ours.
//
//	vcsim -listen 127.0.0.1:8989 -user USER -password PASS \
//	      [-task-delay CreateSnapshot=2s] [-method-delay CreateSnapshot_Task=2s]
//
// The password may come from $VCSIM_PASSWORD instead of the command line. It prints the SDK
// URL (without the password) on stdout once listening, and exits on SIGTERM or SIGINT.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address:port to serve on")
	user := flag.String("user", "user", "user name the simulator accepts")
	password := flag.String("password", os.Getenv("VCSIM_PASSWORD"), "password (or $VCSIM_PASSWORD)")
	taskDelay := flag.String("task-delay", "", "comma-separated Task=duration: run these tasks slowly")
	methodDelay := flag.String("method-delay", "", "comma-separated Method=duration: answer these calls slowly")
	flag.Parse()

	model := simulator.VPX()
	model.DelayConfig.MethodDelay = map[string]int{}
	for name, d := range delays(*taskDelay) {
		simulator.TaskDelay[name] = d
	}
	for name, d := range delays(*methodDelay) {
		model.DelayConfig.MethodDelay[name] = int(d / time.Millisecond)
	}
	defer model.Remove()
	if err := model.Create(); err != nil {
		log.Fatal(err)
	}

	model.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(*user, *password)}
	model.Service.TLS = new(tls.Config) // the simulator makes its own self-signed certificate
	server := model.Service.NewServer()
	defer server.Close()

	shown := *server.URL
	shown.User = nil
	fmt.Println(shown.String())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}

func delays(list string) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, item := range strings.Split(list, ",") {
		if item == "" {
			continue
		}
		name, value, found := strings.Cut(item, "=")
		d, err := time.ParseDuration(value)
		if !found || err != nil {
			log.Fatalf("bad delay item %q (want Name=duration)", item)
		}
		out[name] = d
	}
	return out
}
