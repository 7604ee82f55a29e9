// The shapes the conversations API answers with (GET /v1/conversations, …/messages).
export interface MessageView {
  seq: number;
  role: "user" | "assistant";
  content: string | null;
  status: "ok" | "pending" | "unanswered" | "failed" | "empty";
  execution_id: string;
  error: { code: string; message: string } | null;
  created_at: string;
}

export interface ConversationView {
  id: string;
  workflow_id: string;
  user_id: string | null;
  message_count: number;
  last_message: { role: string; content: string | null; status: string | null; created_at: string | null } | null;
  active_execution_id: string | null;
  created_at: string;
  updated_at: string;
}
