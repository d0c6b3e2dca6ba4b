import asyncio
import websockets
import json

async def chat_client():
    # 获取JWT token
    token = "your_jwt_token_here"
    uri = f"ws://localhost:8000/ws/chat/2/?token={token}"
    
    async with websockets.connect(uri) as websocket:
        print("WebSocket连接成功")
        
        # 发送聊天消息
        message = {
            "type": "chat_message",
            "content": "Hello WebSocket!",
            "message_type": "text"
        }
        await websocket.send(json.dumps(message))
        
        # 接收消息
        response = await websocket.recv()
        data = json.loads(response)
        print(f"收到消息: {data}")

# 运行客户端
asyncio.run(chat_client())
