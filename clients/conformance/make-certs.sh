#!/bin/sh
# make-certs.sh DIR: a CA (ca.pem, ca.key) and a server certificate for
# `localhost` signed by it (server.pem, server.key; P-256), for the
# conformance suite's `tls` profile. mbed TLS 2.28 (nng's TLS on Debian 12)
# matches names, never IP addresses: clients dial 127.0.0.1 with the server
# name `localhost`.
set -eu
dir=$1
cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout ca.key -out ca.pem -days 2 -subj "/CN=jobd conformance CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
	-out server.pem -days 2 -extfile server.ext 2>/dev/null
chmod 600 ca.key server.key
rm -f server.csr server.ext ca.srl
