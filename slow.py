import socket, json, time, sys
s=socket.create_connection(("127.0.0.1",56143))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
body=b'{}'
s.sendall(b"POST /v1/storage/watch HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
time.sleep(60)
