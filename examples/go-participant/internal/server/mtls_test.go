package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	sagav1 "github.com/saga-coordinator/examples/go-participant/gen/saga/v1"
	"github.com/saga-coordinator/examples/go-participant/internal/barrier"
	"github.com/saga-coordinator/examples/go-participant/internal/effects"
	"github.com/saga-coordinator/examples/go-participant/internal/server"
	"github.com/saga-coordinator/examples/go-participant/internal/shipping"
	"github.com/saga-coordinator/examples/go-participant/internal/sqlitedb"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	dir  string
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, dir: t.TempDir()}
	writePEM(t, filepath.Join(ca.dir, "ca.crt"), "CERTIFICATE", der)
	return ca
}

// issue returns a TLS certificate for cn, valid for 127.0.0.1, and its PEM files.
func (ca *testCA) issue(t *testing.T, cn string) (tls.Certificate, string, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(ca.dir, cn+".crt"), filepath.Join(ca.dir, cn+".key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return pair, certFile, keyFile
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestMTLSServesOnlyTheAllowedCoordinator(t *testing.T) {
	ctx := context.Background()
	ca, rogue := newCA(t, "saga-ca"), newCA(t, "rogue-ca")
	_, certFile, keyFile := ca.issue(t, "shipping")
	db, err := sqlitedb.Open(ctx, sqlitedb.Memory, sqlitedb.Options{LockWait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b, _ := barrier.New(ctx, db.DB, barrier.Options{})
	counter, _ := effects.New(ctx, db.DB)
	ship, _ := shipping.New(ctx, db.DB, counter, shipping.Options{})
	svc, err := server.NewService(ship.Steps(), b, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.Listen("127.0.0.1:0", svc, nil, &server.MTLS{
		CertFile: certFile, KeyFile: keyFile, CAFile: filepath.Join(ca.dir, "ca.crt"), AllowedCallers: []string{"coordinator"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(ctx, time.Second)

	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	dial := func(creds credentials.TransportCredentials) sagav1.ParticipantServiceClient {
		conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return sagav1.NewParticipantServiceClient(conn)
	}
	withCert := func(c tls.Certificate) credentials.TransportCredentials {
		return credentials.NewTLS(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{c}})
	}
	execute := func(client sagav1.ParticipantServiceClient, sagaID string) error {
		callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := client.Execute(callCtx, &sagav1.ExecuteRequest{
			SagaId: sagaID, SagaType: "order", Step: "ship", IdempotencyKey: sagaID + "/ship/execute",
			Attempt: 1, Payload: []byte(address), ContentType: "application/json",
		})
		return err
	}

	coordinator, _, _ := ca.issue(t, "coordinator")
	if err := execute(dial(withCert(coordinator)), "mtls-1"); err != nil {
		t.Fatalf("the coordinator's call failed: %v", err)
	}
	other, _, _ := ca.issue(t, "orders-client")
	err = execute(dial(withCert(other)), "mtls-2")
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), "orders-client") {
		t.Fatalf("another identity: want PERMISSION_DENIED naming it, got %v", err)
	}
	impostor, _, _ := rogue.issue(t, "coordinator")
	if err := execute(dial(withCert(impostor)), "mtls-3"); status.Code(err) != codes.Unavailable {
		t.Fatalf("the coordinator's name from an untrusted CA: want UNAVAILABLE (handshake refused), got %v", err)
	}
	if err := execute(dial(insecure.NewCredentials()), "mtls-4"); status.Code(err) != codes.Unavailable {
		t.Fatalf("plaintext: want UNAVAILABLE, got %v", err)
	}
	for _, saga := range []string{"mtls-2", "mtls-3", "mtls-4"} {
		if n, _ := counter.CountsFor(ctx, saga+"/ship/execute"); n.Executed != 0 {
			t.Fatalf("%s: refused call took effect %d times", saga, n.Executed)
		}
	}
}
