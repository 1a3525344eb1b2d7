package sqlstore

// crc32Combine returns the CRC-32 (IEEE) of the concatenation A‖B from crc1 =
// CRC(A), crc2 = CRC(B) and len2 = len(B), without the data: appending len2 zero bits
// to crc1 is a linear map over GF(2), applied by repeated squaring of the one-bit
// operator (the method zlib's crc32_combine uses).
func crc32Combine(crc1, crc2 uint32, len2 int64) uint32 {
	if len2 <= 0 {
		return crc1 ^ crc2
	}
	var even, odd gf2Matrix
	odd[0] = 0xedb88320 // the IEEE polynomial, reflected: the operator for one zero bit
	for n, row := 1, uint32(1); n < 32; n, row = n+1, row<<1 {
		odd[n] = row
	}
	even.square(&odd) // two zero bits
	odd.square(&even) // four zero bits
	for {
		even.square(&odd) // one more zero byte's worth of squarings
		if len2&1 != 0 {
			crc1 = even.times(crc1)
		}
		if len2 >>= 1; len2 == 0 {
			break
		}
		odd.square(&even)
		if len2&1 != 0 {
			crc1 = odd.times(crc1)
		}
		if len2 >>= 1; len2 == 0 {
			break
		}
	}
	return crc1 ^ crc2
}

// gf2Matrix is a 32×32 matrix over GF(2), one uint32 column per bit.
type gf2Matrix [32]uint32

func (m *gf2Matrix) times(vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= m[i]
		}
	}
	return sum
}

// square sets m to a².
func (m *gf2Matrix) square(a *gf2Matrix) {
	for n := range m {
		m[n] = a.times(a[n])
	}
}
