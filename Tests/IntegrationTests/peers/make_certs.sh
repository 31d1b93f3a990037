#!/usr/bin/env bash
# Usage: make_certs.sh DIR
# Writes a throwaway test PKI into DIR: ca.pem, server.pem, server.key, client.pem, client.key.
# EC P-256, valid 2 days. The server cert names 127.0.0.1 (IP SAN) and localhost (DNS SAN);
# the CA key is deleted, so run the script again into another DIR for an untrusted CA.
# Keys are made world-readable: they are throwaway, and a test may run the client as another user.
set -euo pipefail

dir=${1:?usage: make_certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
work=$(mktemp -d .certs.XXXXXX)
trap 'rm -rf "$work"' EXIT

newkey=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)

openssl req -x509 "${newkey[@]}" -keyout "$work/ca.key" -out ca.pem -days 2 \
    -subj "/CN=Spillway Test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

# sign NAME CN EXTENSIONS: a key and a CSR, then a certificate issued by the test CA.
sign() {
    local name=$1 cn=$2 extensions=$3
    openssl req -new "${newkey[@]}" -keyout "$name.key" -out "$work/$name.csr" \
        -subj "/CN=$cn" 2>/dev/null
    printf '%s\n' "$extensions" > "$work/$name.ext"
    openssl x509 -req -in "$work/$name.csr" -CA ca.pem -CAkey "$work/ca.key" \
        -set_serial "0x$(openssl rand -hex 16)" -days 2 -sha256 \
        -extfile "$work/$name.ext" -out "$name.pem" 2>/dev/null
    chmod 644 "$name.key"
}

common='basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer'

sign server 127.0.0.1 "$common
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost"
sign client spillway-test-client "$common
extendedKeyUsage=clientAuth"

openssl verify -CAfile ca.pem server.pem client.pem >/dev/null
