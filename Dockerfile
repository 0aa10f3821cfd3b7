# syntax=docker/dockerfile:1
# The payments service image. Build from the repository root:
#   docker build -t payments .

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum Makefile ./
COPY payments/ payments/
# The same make target the tests build the binary with.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    make payments-binary PAYMENTS_BIN=/out/payments

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/payments /payments
# distroless's nonroot, as numbers so the kubelet can verify runAsNonRoot;
# internal/images.Payments builds the same image without Docker (make images).
USER 65532:65532
# Charges and probes on 9000, /metrics on 9090 (payments/settings).
EXPOSE 9000 9090
ENTRYPOINT ["/payments"]
