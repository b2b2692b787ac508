// Command tlogproof is the Go side of crates/tlog/tests/tlog_proof_go.rs. It verifies
// c2sp.org/tlog-proof@v1 proofs that bintrail wrote, and writes one for bintrail to
// verify, using golang.org/x/mod/sumdb/note and tlog for signatures and Merkle proofs.
// The proof format itself is parsed and written here from the spec, since x/mod has no
// tlog-proof code.
//
// Input on stdin and output on stdout are "key value" lines; binary values are base64.
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const header = "c2sp.org/tlog-proof@v1"

type proof struct {
	extra      []byte
	hasExtra   bool
	index      int64
	hashes     tlog.RecordProof
	checkpoint []byte
}

// cutLine returns the next newline-terminated line of b and the rest.
func cutLine(b []byte) (string, []byte, error) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return "", nil, errors.New("truncated proof")
	}
	return string(b[:i]), b[i+1:], nil
}

func parseProof(b []byte) (*proof, error) {
	p := &proof{}
	line, rest, err := cutLine(b)
	if err != nil {
		return nil, err
	}
	if line != header {
		return nil, errors.New("bad header")
	}
	if line, rest, err = cutLine(rest); err != nil {
		return nil, err
	}
	if e, ok := strings.CutPrefix(line, "extra "); ok {
		if p.extra, err = base64.StdEncoding.Strict().DecodeString(e); err != nil {
			return nil, fmt.Errorf("extra: %v", err)
		}
		p.hasExtra = true
		if line, rest, err = cutLine(rest); err != nil {
			return nil, err
		}
	}
	i, ok := strings.CutPrefix(line, "index ")
	if !ok {
		return nil, errors.New("missing index line")
	}
	if p.index, err = strconv.ParseInt(i, 10, 64); err != nil || strconv.FormatInt(p.index, 10) != i {
		return nil, fmt.Errorf("bad index %q", i)
	}
	for {
		if line, rest, err = cutLine(rest); err != nil {
			return nil, err
		}
		if line == "" {
			break
		}
		h, err := tlog.ParseHash(line)
		if err != nil {
			return nil, err
		}
		p.hashes = append(p.hashes, h)
	}
	p.checkpoint = rest
	return p, nil
}

// verify checks a proof for leaf data against the log key, per the spec's steps.
func verify(b []byte, vkey string, leaf []byte) error {
	p, err := parseProof(b)
	if err != nil {
		return err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return err
	}
	n, err := note.Open(p.checkpoint, note.VerifierList(v))
	if err != nil {
		return fmt.Errorf("checkpoint: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 || lines[0] != v.Name() {
		return errors.New("checkpoint origin is not the log's name")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		return err
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		return err
	}
	return tlog.CheckRecord(p.hashes, size, root, p.index, tlog.RecordHash(leaf))
}

// prove builds a tree of size records "go record <i>" and returns a signed proof of
// record index, with extra data.
func prove(skey string, size, index int64) ([]byte, error) {
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, err
	}
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			out[i] = stored[x]
		}
		return out, nil
	})
	for i := int64(0); i < size; i++ {
		hs, err := tlog.StoredHashes(i, []byte(fmt.Sprintf("go record %d", i)), reader)
		if err != nil {
			return nil, err
		}
		stored = append(stored, hs...)
	}
	root, err := tlog.TreeHash(size, reader)
	if err != nil {
		return nil, err
	}
	rp, err := tlog.ProveRecord(size, index, reader)
	if err != nil {
		return nil, err
	}
	text := fmt.Sprintf("%s\n%d\n%s\n", signer.Name(), size, root)
	signed, err := note.Sign(&note.Note{Text: text}, signer)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nextra %s\nindex %d\n", header, base64.StdEncoding.EncodeToString([]byte("go extra")), index)
	for _, h := range rp {
		fmt.Fprintf(&b, "%s\n", h)
	}
	b.WriteString("\n")
	b.Write(signed)
	return b.Bytes(), nil
}

func main() {
	in := map[string]string{}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		in[k] = v
	}
	unb64 := func(k string) []byte {
		b, err := base64.StdEncoding.DecodeString(in[k])
		if err != nil {
			fmt.Fprintf(os.Stderr, "input %s: %v\n", k, err)
			os.Exit(2)
		}
		return b
	}
	var names []string
	for k := range in {
		if name, ok := strings.CutPrefix(k, "proof_"); ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		if err := verify(unb64("proof_"+name), in["log_vkey"], unb64("leaf_"+name)); err != nil {
			fmt.Printf("verify_%s error: %v\n", name, err)
		} else {
			fmt.Printf("verify_%s ok\n", name)
		}
	}
	b, err := prove(in["log_skey"], 10, 6)
	if err != nil {
		fmt.Fprintf(os.Stderr, "prove: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("go_proof %s\n", base64.StdEncoding.EncodeToString(b))
	fmt.Printf("go_leaf %s\n", base64.StdEncoding.EncodeToString([]byte("go record 6")))
}
