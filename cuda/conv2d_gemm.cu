/*
 * conv2d_gemm.cu — the GEMM path of conv2d.cu (native/cpu/conv2d_gemm.cpp's counterpart).
 *
 * pointwise (1x1, stride 1, no padding, groups 1): a row-major GEMM
 * y[M,Cout] = x[M,Cin] * w[Cin,Cout] with M = N*H*W. cuBLAS is column-major, where the
 * same memory holds the transposes, so it computes y^T = w^T x^T: cublasSgemm(N, N,
 * m=Cout, n=M, k=Cin, A=w (ld Cout), B=x (ld Cin), C=y (ld Cout)); likewise
 * dx^T = w dy^T -> (T, N, Cin, M, Cout) and dw^T = dy^T x -> (N, T, Cout, Cin, M).
 */
#include "conv2d_common.cuh"

namespace es::cuda {

void pointwise_forward(State& s, const ConvGeom& g, const float* x, const float* w, float* y) {
    const int64_t M = (int64_t)g.N * g.H * g.W;
    const float one = 1.0f, zero = 0.0f;
    check(cublasSgemm_64(s.cublas, CUBLAS_OP_N, CUBLAS_OP_N, g.Cout, M, g.Cin, &one, w, g.Cout, x,
                         g.Cin, &zero, y, g.Cout),
          "cublasSgemm (pointwise forward)");
}

void pointwise_backward(State& s, const ConvGeom& g, const float* x, const float* w,
                        const float* dy, float* dx, float* dw) {
    const int64_t M = (int64_t)g.N * g.H * g.W;
    const float one = 1.0f, zero = 0.0f;
    if (dx)
        check(cublasSgemm_64(s.cublas, CUBLAS_OP_T, CUBLAS_OP_N, g.Cin, M, g.Cout, &one, w, g.Cout,
                             dy, g.Cout, &zero, dx, g.Cin),
              "cublasSgemm (pointwise backward data)");
    if (dw)
        check(cublasSgemm_64(s.cublas, CUBLAS_OP_N, CUBLAS_OP_T, g.Cout, g.Cin, M, &one, dy, g.Cout,
                             x, g.Cin, &zero, dw, g.Cout),
              "cublasSgemm (pointwise backward filter)");
}

}  // namespace es::cuda
