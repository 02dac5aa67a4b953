//go:build cgo && (openblas || (accelerate && darwin))

package cpublas

/*
#ifdef KVGPT_OPENBLAS
#include <cblas.h>
#else
#include <Accelerate/Accelerate.h>
#endif

// kv_sgemm and kv_sgemv take plain ints for the enums, whose type names differ between CBLAS
// headers; both are row-major, like gonum.
static void kv_sgemm(int transA, int transB, int m, int n, int k, float alpha, const float *a, int lda,
		const float *b, int ldb, float beta, float *c, int ldc) {
	cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
		m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

static void kv_sgemv(int transA, int m, int n, float alpha, const float *a, int lda, const float *x, int incX,
		float beta, float *y, int incY) {
	cblas_sgemv(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, m, n, alpha, a, lda, x, incX, beta, y, incY);
}
*/
import "C"

import (
	"math"
	"unsafe"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Panic messages, the same strings gonum's implementation uses, checked in the same order.
const (
	zeroIncX     = "blas: zero x index increment"
	zeroIncY     = "blas: zero y index increment"
	mLT0         = "blas: m < 0"
	nLT0         = "blas: n < 0"
	kLT0         = "blas: k < 0"
	badTranspose = "blas: illegal transpose"
	badLdA       = "blas: bad leading dimension of A"
	badLdB       = "blas: bad leading dimension of B"
	badLdC       = "blas: bad leading dimension of C"
	shortX       = "blas: insufficient length of x"
	shortY       = "blas: insufficient length of y"
	shortA       = "blas: insufficient length of a"
	shortB       = "blas: insufficient length of b"
	shortC       = "blas: insufficient length of c"
)

// cblasImpl is gonum's implementation with the matrix products (Sgemm, Sgemv) done by a cgo CBLAS.
// Level-1 routines stay in gonum's assembly: on the short vectors of a training step a cgo call
// costs more than the work.
type cblasImpl struct {
	gonum.Implementation
}

func implementation() blas.Float32 { return cblasImpl{} }

func describe() Info {
	return Info{Name: libraryName(), CBLAS: true, Core: libraryCore(), Threads: libraryThreads()}
}

// fitsCInt reports whether every value fits the C int of the CBLAS interface.
func fitsCInt(v ...int) bool {
	for _, x := range v {
		if x > math.MaxInt32 {
			return false
		}
	}
	return true
}

func cTrans(t blas.Transpose) C.int {
	if t == blas.Trans || t == blas.ConjTrans {
		return 1
	}
	return 0
}

func ptr(s []float32) *C.float { return (*C.float)(unsafe.Pointer(unsafe.SliceData(s))) }

// Sgemm computes
//
//	C = alpha·op(A)·op(B) + beta·C,   op(X) = X or Xᵀ,
//
// with A an m×k, B a k×n and C an m×n row-major matrix, in the cgo CBLAS.
func (impl cblasImpl) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	switch tA {
	default:
		panic(badTranspose)
	case blas.NoTrans, blas.Trans, blas.ConjTrans:
	}
	switch tB {
	default:
		panic(badTranspose)
	case blas.NoTrans, blas.Trans, blas.ConjTrans:
	}
	if m < 0 {
		panic(mLT0)
	}
	if n < 0 {
		panic(nLT0)
	}
	if k < 0 {
		panic(kLT0)
	}
	aTrans := tA != blas.NoTrans
	bTrans := tB != blas.NoTrans
	if aTrans {
		if lda < max(1, m) {
			panic(badLdA)
		}
	} else if lda < max(1, k) {
		panic(badLdA)
	}
	if bTrans {
		if ldb < max(1, k) {
			panic(badLdB)
		}
	} else if ldb < max(1, n) {
		panic(badLdB)
	}
	if ldc < max(1, n) {
		panic(badLdC)
	}
	if m == 0 || n == 0 {
		return
	}
	if aTrans {
		if len(a) < (k-1)*lda+m {
			panic(shortA)
		}
	} else if len(a) < (m-1)*lda+k {
		panic(shortA)
	}
	if bTrans {
		if len(b) < (n-1)*ldb+k {
			panic(shortB)
		}
	} else if len(b) < (k-1)*ldb+n {
		panic(shortB)
	}
	if len(c) < (m-1)*ldc+n {
		panic(shortC)
	}
	if alpha == 0 || k == 0 || !fitsCInt(m, n, k, lda, ldb, ldc) {
		// Only C is scaled (a and b may be empty), or the sizes overflow the C interface.
		impl.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	C.kv_sgemm(cTrans(tA), cTrans(tB), C.int(m), C.int(n), C.int(k), C.float(alpha), ptr(a), C.int(lda),
		ptr(b), C.int(ldb), C.float(beta), ptr(c), C.int(ldc))
}

// Sgemv computes
//
//	y = alpha·op(A)·x + beta·y,   op(A) = A or Aᵀ,
//
// with A an m×n row-major matrix, in the cgo CBLAS.
func (impl cblasImpl) Sgemv(tA blas.Transpose, m, n int, alpha float32, a []float32, lda int, x []float32, incX int, beta float32, y []float32, incY int) {
	if tA != blas.NoTrans && tA != blas.Trans && tA != blas.ConjTrans {
		panic(badTranspose)
	}
	if m < 0 {
		panic(mLT0)
	}
	if n < 0 {
		panic(nLT0)
	}
	if lda < max(1, n) {
		panic(badLdA)
	}
	if incX == 0 {
		panic(zeroIncX)
	}
	if incY == 0 {
		panic(zeroIncY)
	}
	lenX, lenY := m, n
	if tA == blas.NoTrans {
		lenX, lenY = n, m
	}
	if m == 0 || n == 0 {
		return
	}
	if (incX > 0 && (lenX-1)*incX >= len(x)) || (incX < 0 && (1-lenX)*incX >= len(x)) {
		panic(shortX)
	}
	if (incY > 0 && (lenY-1)*incY >= len(y)) || (incY < 0 && (1-lenY)*incY >= len(y)) {
		panic(shortY)
	}
	if len(a) < lda*(m-1)+n {
		panic(shortA)
	}
	if alpha == 0 || !fitsCInt(m, n, lda, incX, -incX, incY, -incY) {
		impl.Implementation.Sgemv(tA, m, n, alpha, a, lda, x, incX, beta, y, incY)
		return
	}
	C.kv_sgemv(cTrans(tA), C.int(m), C.int(n), C.float(alpha), ptr(a), C.int(lda), ptr(x), C.int(incX),
		C.float(beta), ptr(y), C.int(incY))
}
