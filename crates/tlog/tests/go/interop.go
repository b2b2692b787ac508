// Command interop is the Go side of crates/tlog/tests/go_interop.rs: it checks what
// bintrail wrote with golang.org/x/mod/sumdb/note and writes notes for bintrail to check.
//
// Input on stdin and output on stdout are "key value" lines; notes and texts are base64
// because they span lines.
package main

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// cosignatureV1 verifies c2sp.org/tlog-cosignature cosignature/v1 (signature type 0x04),
// which x/mod does not implement. Written from the spec for this test, so bintrail's
// cosignatures are checked by a second implementation inside Go's note.Open.
type cosignatureV1 struct {
	name string
	id   uint32
	key  ed25519.PublicKey
}

func (c cosignatureV1) Name() string    { return c.name }
func (c cosignatureV1) KeyHash() uint32 { return c.id }
func (c cosignatureV1) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	if t > 1<<63-1 {
		return false
	}
	signed := []byte("cosignature/v1\ntime " + strconv.FormatUint(t, 10) + "\n")
	signed = append(signed, msg...)
	return ed25519.Verify(c.key, signed, sig[8:])
}

func parseCosignatureKey(vkey string) (cosignatureV1, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return cosignatureV1{}, errors.New("vkey has no three parts")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 || raw[0] != 0x04 {
		return cosignatureV1{}, errors.New("not a 0x04 Ed25519 key")
	}
	sum := sha256.Sum256(append([]byte(parts[0]+"\n"), raw...))
	id := binary.BigEndian.Uint32(sum[:4])
	if fmt.Sprintf("%08x", id) != parts[1] {
		return cosignatureV1{}, errors.New("key ID does not match")
	}
	return cosignatureV1{parts[0], id, ed25519.PublicKey(raw[1:])}, nil
}

func main() {
	in := map[string]string{}
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		k, v, _ := strings.Cut(scanner.Text(), " ")
		in[k] = v
	}
	if err := run(in); err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		os.Exit(1)
	}
}

func b64(s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func out(k string, v string) { fmt.Printf("%s %s\n", k, v) }

func names(sigs []note.Signature) string {
	var n []string
	for _, s := range sigs {
		n = append(n, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
	}
	return strings.Join(n, ",")
}

func run(in map[string]string) error {
	logKey, err := note.NewVerifier(in["log_vkey"])
	if err != nil {
		return fmt.Errorf("NewVerifier(bintrail vkey): %v", err)
	}
	witness, err := parseCosignatureKey(in["witness_vkey"])
	if err != nil {
		return fmt.Errorf("witness vkey: %v", err)
	}

	// A note signed by bintrail, with a second, unknown signature.
	n, err := note.Open(b64(in["note"]), note.VerifierList(logKey))
	if err != nil {
		return fmt.Errorf("Open(bintrail note): %v", err)
	}
	out("note_verified", names(n.Sigs))
	out("note_unverified", names(n.UnverifiedSigs))
	out("note_text", base64.StdEncoding.EncodeToString([]byte(n.Text)))

	// A checkpoint signed by bintrail's log key and cosigned by a bintrail witness.
	n, err = note.Open(b64(in["checkpoint"]), note.VerifierList(logKey, witness))
	if err != nil {
		return fmt.Errorf("Open(bintrail checkpoint): %v", err)
	}
	out("checkpoint_verified", names(n.Sigs))
	out("checkpoint_text", base64.StdEncoding.EncodeToString([]byte(n.Text)))

	// Tampered notes must fail with an invalid signature, not parse errors.
	for _, k := range []string{"tampered_note", "tampered_cosignature"} {
		_, err = note.Open(b64(in[k]), note.VerifierList(logKey, witness))
		var invalid *note.InvalidSignatureError
		out(k, strconv.FormatBool(errors.As(err, &invalid)))
	}

	// bintrail's private key string, used by Go to sign.
	ourSigner, err := note.NewSigner(in["log_skey"])
	if err != nil {
		return fmt.Errorf("NewSigner(bintrail private key): %v", err)
	}
	text := string(b64(in["text"]))
	msg, err := note.Sign(&note.Note{Text: text}, ourSigner)
	if err != nil {
		return err
	}
	out("signed_with_bintrail_key", base64.StdEncoding.EncodeToString(msg))

	// A fresh Go key; bintrail must parse both strings and verify the note.
	skey, vkey, err := note.GenerateKey(rand.Reader, "go.example/interop")
	if err != nil {
		return err
	}
	goSigner, err := note.NewSigner(skey)
	if err != nil {
		return err
	}
	msg, err = note.Sign(&note.Note{Text: text}, goSigner, ourSigner)
	if err != nil {
		return err
	}
	out("go_skey", skey)
	out("go_vkey", vkey)
	out("go_note", base64.StdEncoding.EncodeToString(msg))
	return nil
}
