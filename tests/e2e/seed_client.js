// 获取JWT token（从localStorage或其他地方）
const token = localStorage.getItem('jwt_token');

// 连接WebSocket（带认证）
const ws = new WebSocket(`ws://localhost:8000/ws/chat/2/?token=${token}`);

// 连接成功
ws.onopen = function(event) {
    console.log('WebSocket连接成功');
};

// 接收消息
ws.onmessage = function(event) {
    const data = JSON.parse(event.data);
    
    switch(data.type) {
        case 'connection_established':
            console.log('连接确认:', data.message);
            break;
            
        case 'chat_message':
            console.log('收到消息:', data.message);
            console.log('消息ID:', data.message.id);
            console.log('消息内容:', data.message.content);
            break;
            
        case 'typing':
            console.log('用户正在输入:', data.user.username, data.is_typing);
            break;
            
        case 'user_join':
            console.log('用户加入:', data.user.username);
            break;
            
        case 'user_leave':
            console.log('用户离开:', data.user.username);
            break;
            
        case 'error':
            console.error('错误:', data.message);
            break;
    }
};

// 发送聊天消息
function sendMessage(content) {
    const message = {
        type: 'chat_message',
        content: content,
        message_type: 'text'
    };
    ws.send(JSON.stringify(message));
}

// 发送正在输入状态
function sendTyping(isTyping) {
    const message = {
        type: 'typing',
        is_typing: isTyping
    };
    ws.send(JSON.stringify(message));
}

// 关闭连接
ws.onclose = function(event) {
    console.log('WebSocket连接关闭');
};
