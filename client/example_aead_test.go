package client_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"log"
	"time"

	"github.com/tpmkeyd/tpmkeyd/client"
)

// An aes-256-gcm key encrypts small data in the agent, bound to an
// encryption context (not secret: the agent audits it).
func ExampleClient_AEADEncrypt() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.GenerateKey(ctx, "example-aead", client.AlgAES256GCM,
		client.WithRotationPeriod(90*24*time.Hour)); err != nil {
		log.Fatal(err)
	}
	defer c.DeleteKey(ctx, "example-aead")
	encCtx := map[string]string{"tenant": "42", "purpose": "db-password"}
	ct, err := c.AEADEncrypt(ctx, "example-aead", []byte("hunter2"), encCtx)
	if err != nil {
		log.Fatal(err)
	}
	pt, err := c.AEADDecrypt(ctx, ct, encCtx) // the ciphertext names its key
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", pt)
}

// The envelope pattern: one GenerateDataKey, then AES-GCM in the caller's
// process for data of any size; keep only the encrypted data key.
func ExampleClient_GenerateDataKey() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	dk, encryptedDK, err := c.GenerateDataKey(ctx, "example-aead", 32, map[string]string{"file": "backup.tar"})
	if err != nil {
		log.Fatal(err)
	}
	block, _ := aes.NewCipher(dk)
	clear(dk)
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, gcm.NonceSize())
	rand.Read(nonce)
	sealed := gcm.Seal(nonce, nonce, []byte("large data..."), nil)
	fmt.Println(len(encryptedDK), len(sealed)) // store both
}
