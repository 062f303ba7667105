package tinkkms_test

import (
	"context"
	"fmt"
	"log"

	"github.com/tink-crypto/tink-go/v2/aead"

	"github.com/tpmkeyd/tpmkeyd/client"
	"github.com/tpmkeyd/tpmkeyd/client/tinkkms"
)

// Tink's envelope encryption with a tpmkeyd key as the key-encryption key:
// each Encrypt makes a fresh AES-256-GCM data key in the process, and
// tpmkeyd wraps it; the ciphertext carries the wrapped key.
func Example() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "") // $TPMKEY_SOCKET, else /run/tpmkeyd/tpmkeyd.sock
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.GenerateKey(ctx, "tink-kek", client.AlgAES256GCM); err != nil {
		log.Fatal(err)
	}
	defer c.DeleteKey(ctx, "tink-kek")

	kms, err := tinkkms.New(c, tinkkms.URIPrefix)
	if err != nil {
		log.Fatal(err)
	}
	kek, err := kms.GetAEAD("tpmkeyd://tink-kek")
	if err != nil {
		log.Fatal(err)
	}
	envelope := aead.NewKMSEnvelopeAEAD2(aead.AES256GCMKeyTemplate(), kek)

	ct, err := envelope.Encrypt([]byte("customer record"), []byte("customer 42"))
	if err != nil {
		log.Fatal(err)
	}
	pt, err := envelope.Decrypt(ct, []byte("customer 42"))
	fmt.Printf("%s %v\n", pt, err)
	_, err = envelope.Decrypt(ct, []byte("customer 43"))
	fmt.Println("other associated data fails:", err != nil)
	// Output:
	// customer record <nil>
	// other associated data fails: true
}
