package kruptein

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
)

// decryptUnauthenticated decrypts ct in one of the modes without a tag, as
// Node's decipher does with its default automatic padding: CBC strips
// PKCS#7 padding and refuses a wrong one ("bad decrypt"); CTR, CFB (128-bit
// feedback) and OFB have none. The IV must be one block. Errors wrap
// ErrMalformed: the HMAC already matched, so the file was damaged.
func decryptUnauthenticated(m mode, block cipher.Block, iv, ct []byte) ([]byte, error) {
	if len(iv) != aes.BlockSize {
		return nil, fmt.Errorf("%w: a %d-byte IV, not %d", ErrMalformed, len(iv), aes.BlockSize)
	}
	pt := make([]byte, len(ct))
	switch m {
	case modeCBC:
		if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
			return nil, fmt.Errorf("%w: %d bytes of CBC ciphertext, not a whole number of blocks", ErrMalformed, len(ct))
		}
		cipher.NewCBCDecrypter(block, iv).CryptBlocks(pt, ct)
		n := int(pt[len(pt)-1])
		if n == 0 || n > aes.BlockSize {
			return nil, fmt.Errorf("%w: bad CBC padding", ErrMalformed)
		}
		for _, b := range pt[len(pt)-n:] {
			if int(b) != n {
				return nil, fmt.Errorf("%w: bad CBC padding", ErrMalformed)
			}
		}
		return pt[:len(pt)-n], nil
	case modeCTR:
		cipher.NewCTR(block, iv).XORKeyStream(pt, ct)
	case modeCFB:
		//lint:ignore SA1019 kruptein chose the mode; its HMAC authenticates the ciphertext.
		cipher.NewCFBDecrypter(block, iv).XORKeyStream(pt, ct)
	case modeOFB:
		//lint:ignore SA1019 kruptein chose the mode; its HMAC authenticates the ciphertext.
		cipher.NewOFB(block, iv).XORKeyStream(pt, ct)
	default:
		return nil, fmt.Errorf("%w: mode %d", ErrUnsupported, m)
	}
	return pt, nil
}

// encryptUnauthenticated is the inverse of decryptUnauthenticated, with
// PKCS#7 padding for CBC (always at least one byte, as OpenSSL pads).
func encryptUnauthenticated(m mode, block cipher.Block, iv, pt []byte) []byte {
	switch m {
	case modeCBC:
		n := aes.BlockSize - len(pt)%aes.BlockSize
		padded := make([]byte, len(pt)+n)
		copy(padded, pt)
		for i := len(pt); i < len(padded); i++ {
			padded[i] = byte(n)
		}
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(padded, padded)
		return padded
	case modeCTR:
		ct := make([]byte, len(pt))
		cipher.NewCTR(block, iv).XORKeyStream(ct, pt)
		return ct
	case modeCFB:
		ct := make([]byte, len(pt))
		//lint:ignore SA1019 kruptein chose the mode; its HMAC authenticates the ciphertext.
		cipher.NewCFBEncrypter(block, iv).XORKeyStream(ct, pt)
		return ct
	default: // modeOFB
		ct := make([]byte, len(pt))
		//lint:ignore SA1019 kruptein chose the mode; its HMAC authenticates the ciphertext.
		cipher.NewOFB(block, iv).XORKeyStream(ct, pt)
		return ct
	}
}
