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
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
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
	certOut := flag.String("cert-out", "", "make a self-signed certificate for 127.0.0.1, write its PEM here")
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
	model.Service.TLS = new(tls.Config) // empty: Go's built-in test certificate (a weak key)
	if *certOut != "" {
		model.Service.TLS.Certificates = []tls.Certificate{selfSigned(*certOut)}
	}
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

// selfSigned makes a P-256 certificate for 127.0.0.1 that is its own CA, so a client can trust
// exactly this server by giving the PEM written to path as its CA bundle.
func selfSigned(path string) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "vcsim test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(path, certPEM, 0o644); err != nil {
		log.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
