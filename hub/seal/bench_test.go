package seal

import "testing"

func BenchmarkSealOpen2KB(b *testing.B) {
	k, _ := GenerateKey("k1")
	kr, _ := NewKeyring(k)
	pt := make([]byte, 2048)
	aad := []byte("switchboard.deliver|tr_x|0|ehr")
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		env, err := kr.Seal(pt, aad)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := kr.Open(env, aad); err != nil {
			b.Fatal(err)
		}
	}
}
