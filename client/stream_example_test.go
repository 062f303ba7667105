package client_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/tpmkeyd/tpmkeyd/client"
)

// Encrypting data of any size with an aes-256-gcm key: one data key from
// the agent, the segments made here (docs/FORMATS.md). Decryption finds
// the key in the stream's header; it needs the same context.
func ExampleClient_EncryptStream() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.GenerateKey(ctx, "backups", client.AlgAES256GCM); err != nil {
		log.Fatal(err)
	}
	defer c.DeleteKey(ctx, "backups")

	encCtx := map[string]string{"host": "db1"} // not secret; written to the audit log
	var sealed bytes.Buffer
	if _, err := c.EncryptStream(ctx, "backups", encCtx, &sealed, strings.NewReader("a database dump")); err != nil {
		log.Fatal(err)
	}
	var plain bytes.Buffer
	if _, err := c.DecryptStream(ctx, encCtx, &plain, &sealed); err != nil {
		log.Fatal(err) // on an error, discard what plain received
	}
	fmt.Println(plain.String())
	// Output: a database dump
}
