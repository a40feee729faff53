# shellcheck shell=bash
# Sourced by the TLS test and bench scripts: a throwaway CA and a server certificate for
# 127.0.0.1 and localhost, made with openssl in directory "$1" (nothing is committed).
#
#   make_test_certs DIR [ec|rsa]     # ECDSA P-256 (default) or RSA 2048, valid 2 days
#
# Sets CA, CERT, KEY (paths of PEM files). Returns 1, after printing openssl's output, if
# openssl failed.
make_test_certs() {
  local dir=$1 type=${2:-ec} run newkey ku
  case $type in
    ec) newkey=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1) ku=digitalSignature ;;
    rsa) newkey=(-newkey rsa:2048) ku=digitalSignature,keyEncipherment ;;
    *) echo "make_test_certs: key type must be ec or rsa, not $type" >&2; return 1 ;;
  esac
  run=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
  CA=$dir/ca.pem CERT=$dir/server.pem KEY=$dir/server.key
  cat >"$dir/server.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,$ku
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer
EXT
  if ! {
    openssl req -x509 "${newkey[@]}" -nodes -days 2 -sha256 -subj "/CN=sluice throwaway test CA $run" \
      -keyout "$dir/ca.key" -out "$CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
      openssl req -new "${newkey[@]}" -nodes -subj "/CN=localhost" -keyout "$KEY" -out "$dir/server.csr" &&
      openssl x509 -req -in "$dir/server.csr" -CA "$CA" -CAkey "$dir/ca.key" \
        -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
        -days 2 -sha256 -extfile "$dir/server.ext" -out "$CERT" &&
      openssl verify -CAfile "$CA" "$CERT"
  } >"$dir/openssl.log" 2>&1; then
    cat "$dir/openssl.log" >&2
    echo "make_test_certs: cannot make the test certificates" >&2
    return 1
  fi
}
