package candid

import (
	"context"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard-health/switchboard/connectors"
	"github.com/switchboard-health/switchboard/connectors/webhook"
)

// TestClaimStatusWebhook: a signed claim status event verifies with the
// connector's Standard Webhooks secret and becomes a ClaimResponse upserted
// on the encounter's identifier; a forged one does not verify.
func TestClaimStatusWebhook(t *testing.T) {
	key := []byte("candid-webhook-key-for-the-test!")
	secret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	env := map[string]string{"CANDID_CLIENT_ID": "cid", "CANDID_CLIENT_SECRET": "csecret", "CANDID_WEBHOOK": secret}
	c, err := build(t, "http://127.0.0.1:1", "webhook_secrets_env: [CANDID_WEBHOOK]\n", env)
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(filepath.Join("..", "..", "testdata", "mappings", "candid", "webhook", "claim-status-paid.json"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	req := func(k []byte) connectors.WebhookRequest {
		h := http.Header{}
		h.Set(webhook.HeaderID, "msg_1")
		h.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		h.Set(webhook.HeaderSignature, webhook.Sign(k, "msg_1", now, body))
		return connectors.WebhookRequest{Method: http.MethodPost, URL: "https://hub.example/webhooks/billing", Body: body, Header: h}
	}
	if _, err := c.VerifyWebhook(req([]byte("forged-key-forged-key-forged-key")), now); err == nil {
		t.Fatal("a forged signature verified")
	}
	ev, err := c.VerifyWebhook(req(key), now)
	if err != nil {
		t.Fatal(err)
	}
	changes, err := c.TranslateWebhook(context.Background(), ev)
	if err != nil || len(changes) != 1 {
		t.Fatalf("changes %v, err %v", changes, err)
	}
	ch := changes[0]
	if ch.ResourceType != "ClaimResponse" || ch.Interaction != connectors.Update ||
		ch.Match != "https://switchboard.health/id/candid-encounter|3f1c2b4a-5d6e-4f70-8a91-b2c3d4e5f601" ||
		ch.Record != "3f1c2b4a-5d6e-4f70-8a91-b2c3d4e5f601" || !ch.ChangedAt.Equal(time.Date(2026, 11, 22, 10, 15, 0, 0, time.UTC)) {
		t.Fatalf("change %+v", ch)
	}
	ignored, err := c.TranslateWebhook(context.Background(), connectors.WebhookEvent{ID: "x", Body: []byte(`{"type":"encounter.created","data":{}}`)})
	if err != nil || len(ignored) != 0 {
		t.Fatalf("another event type: %v %v", ignored, err)
	}
}
