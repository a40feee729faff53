# Sourced by the bench scripts that start servers on loopback ports.
#   free_port: prints a free TCP port on 127.0.0.1 (the kernel's pick).
#   wait_port PORT: waits up to 10 s for 127.0.0.1:PORT to accept, else exits the script.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 1 200); do
        (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "port $1 never opened" >&2
    exit 1
}
